"""The ``report`` DAG: the latest MLflow run of every pipeline (read through the MLflow client by
``report.mlflow_runs``) -> one page per paper's headline table beside this project's numbers,
as ``data/08_reporting/report.html`` and its markdown twin, both also logged to MLflow."""

from kedro.pipeline import Pipeline

from iclr17.common.pipeline import stage_node_factory

from . import nodes

_n = stage_node_factory("report")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            _n(nodes.build_report, ["report.mlflow_runs", "params:report"], ["report.report", "report.metrics"],
               "build_report", "evaluation"),
            _n(nodes.report_figures, ["report.report", "report.mlflow_runs"], "report.figures",
               "report_figures", "evaluation"),
            _n(nodes.render_markdown, ["report.report", "params:report.figures_dir"], "report.markdown",
               "render_markdown", "evaluation"),
            _n(nodes.render_html, ["report.report", "report.mlflow_runs"], "report.html", "render_html", "evaluation"),
        ]
    )
