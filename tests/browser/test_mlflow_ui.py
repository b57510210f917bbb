"""The MLflow UI in a real browser, against a tracking database with runs of several pipelines
(the shared ``--env=test`` runs): the runs, their metrics and the paper_vs_run artifact are shown,
and the chart comparison of the four ``tying`` variants is the README's screenshot."""

import shutil
import time
import urllib.parse

from .conftest import executable, free_port, serve

PIPELINES = ("gcn", "tying")  # gcn: one run; tying: one run per variant + its report run


def _wait_for_text(page, text: str, timeout: float = 90) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)


def _close_assistant(page) -> None:
    """Close the 'MLflow Assistant' side panel if it is open (it covers a third of the page)."""
    close = page.locator("button[aria-label='Close']")
    if close.count():
        close.last.click()
        time.sleep(0.5)


def test_mlflow_ui_shows_runs_metrics_and_paper_vs_run(page, test_env, artifacts_dir, tmp_path):
    for name in PIPELINES:
        test_env.ensure(name)
    db = tmp_path / "mlflow.db"  # the server gets a copy; the artifacts stay where the runs put them
    shutil.copyfile(test_env.tracking_uri.removeprefix("sqlite:///"), db)
    exp_id = test_env.client().get_experiment_by_name("iclr17").experiment_id
    gcn = test_env.mlflow_runs("gcn")[0]
    tying_real = test_env.mlflow_runs("tying_real")[0]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [executable("mlflow"), "server", "--backend-store-uri", f"sqlite:///{db}",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with serve(argv, f"{url}/health", tmp_path / "mlflow-server.log",
               env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}):
        # the runs of both pipelines are listed
        page.goto(f"{url}/#/experiments/{exp_id}/runs?workflowType=machine_learning")
        for name in ("gcn", "tying_baseline", "tying_re", "tying_al", "tying_real", "tying_report"):
            _wait_for_text(page, name)

        # one run's page shows its metrics with their values
        page.goto(f"{url}/#/experiments/{exp_id}/runs/{gcn.info.run_id}")
        _wait_for_text(page, "gcn.cora.renormalization.acc_mean")
        value = gcn.data.metrics["gcn.cora.renormalization.acc_mean"]
        body = page.inner_text("body")
        assert repr(value) in body, f"acc_mean {value!r} not shown"

        # the paper_vs_run table is shown in the artifact browser
        page.goto(f"{url}/#/experiments/{exp_id}/runs/{tying_real.info.run_id}/artifacts/paper_vs_run.md")
        _wait_for_text(page, "small +REAL test perplexity")
        _wait_for_text(page, "this run")  # the table header (the UI renders the markdown)
        page.screenshot(path=str(artifacts_dir / "mlflow_paper_vs_run.png"))

        # the four tying variants compared in charts: the README's "Compare runs" screenshot
        search = urllib.parse.quote("attributes.run_name LIKE 'tying_%'")
        page.goto(f"{url}/#/experiments/{exp_id}/runs?workflowType=machine_learning&compareRunsMode=CHART"
                  f"&searchFilter={search}")
        _wait_for_text(page, "6 matching runs")  # the prep, four variants, the report
        page.get_by_placeholder("Search metric charts").fill("ppl")  # the perplexity charts only
        page.locator(".js-plotly-plot").first.wait_for(timeout=90_000)
        _close_assistant(page)
        time.sleep(3)  # the charts finish drawing
        page.screenshot(path=str(artifacts_dir / "mlflow_compare_tying.png"))
