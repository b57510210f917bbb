"""The reproduction report (report.html) in a real browser: every paper's section, its status marks,
its plots decoded and drawn, and run links into the MLflow UI."""

import json
import sys

from tests.pipelines.report.test_pipeline_e2e import PAPER_PIPELINES

from .conftest import free_port, serve


def test_report_page_renders_every_paper(page, test_env, artifacts_dir, tmp_path):
    for name in (*PAPER_PIPELINES, "report"):
        test_env.ensure(name)
    out = test_env.data_root / "08_reporting"
    report = json.loads((out / "report.json").read_text())
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out)]
    with serve(argv, f"http://127.0.0.1:{port}/report.html", tmp_path / "http.log"):
        page.goto(f"http://127.0.0.1:{port}/report.html")
        for sec in report["sections"]:
            section = page.locator(f"section#{sec['key']}")
            assert section.locator("h2").inner_text().startswith(sec["key"])
            assert section.locator("tr.reproduced, tr.not-reproduced, tr.no-target, tr.not-run").count() == len(sec["rows"])
            links = section.locator("a[href*='/#/experiments/']")
            assert links.count() >= len(sec["rows"])
            assert all(link.get_attribute("href").startswith(report["mlflow_ui"].rstrip("/")) for link in links.all())
        images = page.locator("figure img")
        assert images.count() == sum(len(r.get("plots", [])) for s in report["sections"] for r in s["runs"])
        # every embedded PNG decoded and drawn
        assert page.eval_on_selector_all("figure img", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
        assert "reduced/modified run" in page.locator("#summary").inner_text()
        page.screenshot(path=str(artifacts_dir / "report_page.png"), full_page=False)
