"""Every notebook in notebooks/ runs top to bottom on the shared --env=test outputs, so none can
rot. The executed copies are kept in test-artifacts/notebooks/."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# the pipeline (or variant group) whose outputs each notebook reads
NEEDS = {"prodlda": "prodlda", "gcn": "gcn", "tying": "tying", "noising": "noising", "sharp_minima": "sharp_minima",
         "meta_lstm": "meta_lstm", "vlae": "vlae", "qprop": "qprop"}


def test_every_landed_pipeline_has_a_notebook():
    assert {p.stem for p in NOTEBOOKS} == set(NEEDS)


@pytest.mark.e2e
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_test_env_outputs(path: Path, test_env, monkeypatch):
    test_env.ensure(NEEDS[path.stem])
    monkeypatch.setenv("ICLR17_NOTEBOOK_ENV", "test")
    monkeypatch.setenv("ICLR17_NOTEBOOK_PARAMS", ",".join(f"{k}={v}" for k, v in test_env.runtime_params.items()))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    out = Path(os.environ.get("ICLR17_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    # the paper_vs_run table and at least one figure were produced
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("text/html" in o.get("data", {}) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
