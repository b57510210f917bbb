import json

import pytest

from iclr17.pipeline_registry import register_pipelines

PAPER_PIPELINES = ("prodlda", "gcn", "sharp_minima", "tying", "noising", "meta_lstm", "vlae", "qprop")


def test_report_pipeline_is_separate_and_tagged():
    pipes = register_pipelines()
    assert "report.build_report" not in {n.name for n in pipes["__default__"].nodes}
    assert all(n.tags == {"evaluation"} for n in pipes["report"].nodes)


@pytest.mark.e2e
def test_report_reads_every_pipelines_latest_run_from_mlflow(test_env):
    for name in PAPER_PIPELINES:
        test_env.ensure(name)
    test_env.ensure("report")
    out = test_env.data_root / "08_reporting"
    report = json.loads((out / "report.json").read_text())
    sections = {s["key"]: s for s in report["sections"]}
    assert list(sections) == ["prodlda", "gcn", "noising", "tying", "sharp_minima", "meta_lstm", "vlae", "qprop"]
    for key, sec in sections.items():
        assert sec["rows"], key
        found = [r for r in sec["runs"] if not r["missing"]]
        # every run of this test session is a --env=test run: all marked reduced
        assert found and all(r["reduced"] and "config env 'test'" in r["reduced_because"] for r in found)
        for r in sec["rows"]:
            assert r["run_id"] == test_env.mlflow_runs(r["run_name"])[0].info.run_id
            assert r["status"] in ("reproduced", "not reproduced", "not run", "no target")
    # gcn_pubmed has no run here (no allx): listed as not run, not hidden
    assert {"run_name": "gcn_pubmed", "missing": True} in sections["gcn"]["runs"]
    assert {"run_name": "meta_lstm_miniimagenet", "missing": True} in sections["meta_lstm"]["runs"]
    assert {"run_name": "vlae_caltech_report", "missing": True} in sections["vlae"]["runs"]
    assert {"run_name": "qprop_swimmer_report", "missing": True} in sections["qprop"]["runs"]
    # the tying section holds each variant's rows from that variant's own run
    real = next(r for r in sections["tying"]["rows"] if r["metric"] == "small +REAL test perplexity")
    assert real["run_name"] == "tying_real" and real["status"] == "not reproduced"  # 2 tiny epochs
    assert "--env=test" in real["command"]

    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    for key in sections:
        assert f"<section id='{key}'>" in html and f"## `{key}`" in md
    assert html.count("data:image/png;base64,") >= 5 and "⚠ reduced/modified run" in html
    figures = sorted(p.relative_to(out).as_posix() for p in (out / "report_figures").rglob("*.png"))
    assert "report_figures/gcn/gcn__tsne_hidden.png" in figures
    for fig in figures:
        assert f"]({fig})" in md

    [run] = test_env.mlflow_runs("report")
    client = test_env.client()
    assert {"report.html", "report.md"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    counts = report["counts"]
    assert run.data.metrics["report.rows_reduced"] == counts["reduced"] == sum(len(s["rows"]) for s in sections.values())
