"""kedro-viz in a real browser: every registered pipeline's DAG renders with all its nodes, its
nodes tagged by stage and its datasets laid out by layer."""

import json
import time
import urllib.request

from iclr17.common.pipeline import STAGES
from iclr17.pipeline_registry import register_pipelines

from .conftest import executable, free_port, serve


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _task_labels(page) -> set[str]:
    return set(page.eval_on_selector_all(".pipeline-node--task", "els => els.map(e => e.textContent.trim())"))


def test_every_pipeline_renders_in_kedro_viz(page, artifacts_dir, tmp_path):
    pipelines = register_pipelines()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [executable("kedro"), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    with serve(argv, f"{url}/api/main", tmp_path / "kedro-viz.log"):
        main = _get(f"{url}/api/main")
        assert {p["id"] for p in main["pipelines"]} == set(pipelines)
        assert {t["id"] for t in main["tags"]} == set(STAGES)
        # skip the first-visit tour
        page.add_init_script("localStorage.setItem('KedroViz', JSON.stringify({showFeatureHints: false}))")
        for pid, pipeline in pipelines.items():
            api = _get(f"{url}/api/pipelines/{pid}")
            tasks = [n for n in api["nodes"] if n["type"] == "task"]
            data = [n for n in api["nodes"] if n["type"] == "data"]
            assert len(tasks) == len(pipeline.nodes), pid
            assert all(len(set(n["tags"]) & set(STAGES)) == 1 for n in tasks), f"{pid}: a node without a stage tag"
            assert all(n["layer"] for n in data), f"{pid}: datasets without a layer: {[n['name'] for n in data if not n['layer']]}"
            expected = {n.name.rsplit(".", 1)[-1] for n in pipeline.nodes}

            page.goto(f"{url}/?pid={pid}&expandAllPipelines=true")
            page.wait_for_selector(".pipeline-node--task", timeout=60_000)
            deadline = time.monotonic() + 60
            while _task_labels(page) != expected and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _task_labels(page) == expected, f"{pid}: missing {expected - _task_labels(page)}"
            body = page.inner_text("body")
            for layer in {n["layer"] for n in data}:
                assert layer in body, f"{pid}: layer {layer!r} not shown"
            page.screenshot(path=str(artifacts_dir / f"kedro-viz_{pid}.png"))
