import json

import pytest

from iclr17.common.reporting import row
from iclr17.pipelines.report import nodes
from iclr17.pipelines.report.datasets import MlflowRunsDataset

PAPERS = {
    "toy": {
        "title": "A Toy Paper",
        "authors": "Doe et al.",
        "headline": "accuracy",
        "runs": ["toy_a", "toy_summary", "toy_never_run"],
        "command": "kedro run --pipeline=toy_a",
        "targets": [
            {"metric": "^acc A", "within": 1.0},
            {"metric": "^acc B", "above_row": "acc A"},
            {"metric": "^ratio", "at_least": 20},
            {"metric": "^ppl", "at_most": 83.5},
        ],
    }
}


def _run(name, rows, tags=None, run_id="r" * 32, plots=None):
    return {
        "run_id": run_id, "run_name": name, "experiment_id": "7", "experiment_name": "iclr17",
        "start_time": 0, "end_time": 125_000, "finished_runs_with_this_name": 2,
        "tags": {"kedro_command": f"kedro run --pipeline={name}", **(tags or {})},
        "params": {}, "metrics": {}, "paper_vs_run": rows, "plots": plots or {},
    }


def test_provenance_of_a_whole_default_run():
    p = nodes.run_provenance({"kedro_command": "kedro run --pipeline=gcn", "runtime_params": "{'data_root': '/x'}"})
    assert not p["reduced"] and p["command"] == "kedro run --pipeline=gcn" and p["env"] == "local"


def test_provenance_marks_env_params_and_partial_runs():
    tags = {
        "kedro_command": "kedro run --node=a.b --pipeline=tying_re",
        "env": "test",
        "runtime_params": "{'tying': {'sizes': {'small': {'training': {'epochs': 2}}}}, 'mlflow_tracking_uri': 'x'}",
        "node_names": "('a.b',)",
    }
    p = nodes.run_provenance(tags)
    assert p["reduced"]
    assert p["runtime_params"] == {"tying.sizes.small.training.epochs": 2}
    assert "config env 'test'" in p["reduced_because"] and "node_names" in p["reduced_because"]
    assert p["command"] == "kedro run --node=a.b --pipeline=tying_re --env=test --params tying.sizes.small.training.epochs=2"


@pytest.mark.parametrize(
    ("r", "status"),
    [
        (row("acc A test", 81.5, 80.6, "%"), nodes.REPRODUCED),
        (row("acc A test", 81.5, 80.4, "%"), nodes.NOT_REPRODUCED),
        (row("acc A test", 81.5, None, "%"), nodes.NOT_RUN),
        (row("acc A test", None, 81.0, "%"), nodes.NOT_REPRODUCED),  # within needs a paper number
        (row("ratio", 167, 20.0), nodes.REPRODUCED),
        (row("ratio", 167, 19.9), nodes.NOT_REPRODUCED),
        (row("ppl test", 82.7, 83.5), nodes.REPRODUCED),
        (row("ppl test", 82.7, 83.6), nodes.NOT_REPRODUCED),
        (row("other", 1.0, 2.0), nodes.NO_TARGET),
    ],
)
def test_row_status_rules(r, status):
    targets = nodes.check_targets(PAPERS["toy"]["targets"])
    assert nodes.row_status(r, {}, targets)[0] == status


def test_row_status_compares_with_another_row():
    targets = nodes.check_targets(PAPERS["toy"]["targets"])
    a = row("acc A", 1.0, 98.3)
    assert nodes.row_status(row("acc B", 1.0, 98.4), {"acc A": a}, targets)[0] == nodes.REPRODUCED
    assert nodes.row_status(row("acc B", 1.0, 98.2), {"acc A": a}, targets)[0] == nodes.NOT_REPRODUCED
    assert nodes.row_status(row("acc B", 1.0, 98.2), {}, targets)[0] == nodes.NOT_REPRODUCED


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match="needs one of"):
        nodes.check_targets([{"metric": "x"}])
    with pytest.raises(Exception, match="unknown"):
        nodes.check_targets([{"metric": "x", "above": 3}])


def _report(runs):
    return nodes.build_report(runs, {"mlflow_ui": "http://ui:5000/", "papers": PAPERS, "figures_dir": "figs"})


def test_build_report_rows_status_links_and_missing_runs():
    runs = {
        "toy_a": _run("toy_a", [row("acc A", 81.5, 81.0, "%", "n", sd=0.5), row("acc B", 1.0, 80.0)], run_id="a" * 32),
        # a summary run repeating a variant's row: the variant's row is kept
        "toy_summary": _run("toy_summary", [row("acc A", 81.5, 0.0), row("ratio", 167, 90.0)],
                            tags={"env": "test"}, run_id="b" * 32),
    }
    report, metrics = _report(runs)
    (sec,) = report["sections"]
    assert [r["metric"] for r in sec["rows"]] == ["acc A", "acc B", "ratio"]
    a, b, ratio = sec["rows"]
    assert (a["status"], b["status"], ratio["status"]) == (nodes.REPRODUCED, nodes.NOT_REPRODUCED, nodes.REPRODUCED)
    assert a["url"] == "http://ui:5000/#/experiments/7/runs/" + "a" * 32 and not a["reduced"]
    assert ratio["reduced"] and ratio["run_name"] == "toy_summary"
    assert sec["runs"][2] == {"run_name": "toy_never_run", "missing": True}
    assert report["counts"] == {"reproduced": 2, "not reproduced": 1, "not run": 0, "no target": 0, "reduced": 1}
    assert metrics["rows_reproduced"] == {"value": 2.0, "step": 0}


def test_renderers_mark_rows_and_link_runs():
    png = b"\x89PNG\r\n\x1a\nfake"
    runs = {"toy_a": _run("toy_a", [row("acc A", 81.5, 81.0, "%", sd=0.5), row("acc B", 1.0, 80.0)],
                          tags={"env": "test"}, plots={"curve.png": png})}
    report, _ = _report(runs)
    md = nodes.render_markdown(report, "figs")
    assert "| acc A | 81.5 | 81 ± 0.5 % | -0.5 | ✓ reproduced |" in md
    assert "✗ not reproduced" in md and "⚠ reduced/modified run" in md
    assert "`toy_summary`: **no finished run" in md
    assert "![toy_a: curve.png](figs/toy/toy_a__curve.png)" in md
    html = nodes.render_html(report, runs)
    assert "<tr class='reproduced'>" in html and "<tr class='not-reproduced'>" in html
    assert "href='http://ui:5000/#/experiments/7/runs/" in html and "data:image/png;base64," in html
    assert nodes.report_figures(report, runs) == {"toy/toy_a__curve": png}


def test_mlflow_runs_dataset_takes_the_latest_finished_run_with_a_table(tracking_uri, tmp_path):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("iclr17").experiment_id
    table = tmp_path / "paper_vs_run.json"

    def log(name, value, with_table=True, status="FINISHED"):
        run = client.create_run(exp, run_name=name)
        if with_table:
            table.write_text(json.dumps([row("m", 1.0, value)]))
            client.log_artifact(run.info.run_id, str(table))
        client.set_terminated(run.info.run_id, status)
        return run.info.run_id

    log("gcn", 1.0)
    newest_with_table = log("gcn", 2.0)
    log("gcn", 3.0, with_table=False)  # a partial run without the table: skipped
    log("gcn", 4.0, status="FAILED")
    log("report", 5.0)
    runs = MlflowRunsDataset("iclr17", tracking_uri=tracking_uri, exclude=["report"]).load()
    assert set(runs) == {"gcn"}
    assert runs["gcn"]["run_id"] == newest_with_table
    assert runs["gcn"]["paper_vs_run"][0]["run"] == 2.0
    assert runs["gcn"]["finished_runs_with_this_name"] == 3
    with pytest.raises(Exception, match="experiment 'nope' not found"):
        MlflowRunsDataset("nope", tracking_uri=tracking_uri).load()
