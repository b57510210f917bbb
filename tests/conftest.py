"""Shared fixtures: the data mirror, one migrated MLflow database per test session, and a
Kedro session runner for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("DO_NOT_TRACK", "true")
if "ICLR17_DATA_MIRROR" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["ICLR17_DATA_MIRROR"] = str(ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = Path(os.environ.get("ICLR17_DATA_MIRROR", ""))
    if not path.is_dir():
        pytest.fail("set ICLR17_DATA_MIRROR to the folder of mirrored datasets (CI uses ../shared/data)")
    return path


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    """Create (migrate) one SQLite tracking database; tests copy it, which is much faster."""
    import mlflow

    db = tmp_path_factory.mktemp("mlflow") / "template.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracking_uri(_mlflow_template, tmp_path) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copyfile(_mlflow_template, db)
    return f"sqlite:///{db}"


@pytest.fixture(autouse=True)
def _no_leaked_mlflow_run():
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def run_pipeline(tracking_uri, tmp_path, mirror):
    """Run a registered pipeline through a real KedroSession with ``--env=test``; return
    ``(data_root, tracking_uri)``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    def _run(name: str, extra: dict | None = None):
        data_root = tmp_path / "data"
        bootstrap_project(ROOT)
        params = {"data_root": str(data_root), "mlflow_tracking_uri": tracking_uri, **(extra or {})}
        with KedroSession.create(project_path=ROOT, env="test", runtime_params=params) as session:
            session.run(pipeline_names=[name])
        return data_root, tracking_uri

    return _run


@pytest.fixture
def run_group(tracking_uri, tmp_path, mirror, monkeypatch):
    """Run ``kedro variants <group> --env test`` (one Kedro session and MLflow run per pipeline of
    the group) through the real CLI command; return ``(data_root, tracking_uri)``."""
    from click.testing import CliRunner

    from iclr17.cli import variants

    def _run(group: str):
        monkeypatch.chdir(ROOT)
        data_root = tmp_path / "data"
        params = f"data_root={data_root},mlflow_tracking_uri={tracking_uri}"
        result = CliRunner().invoke(variants, [group, "--env", "test", "--params", params])
        assert result.exit_code == 0, result.output + repr(result.exception)
        return data_root, tracking_uri

    return _run


@pytest.fixture(scope="module")
def toy_lm_corpus():
    """A random 20-type corpus for language-model node tests."""
    import numpy as np

    rng = np.random.default_rng(0)
    return {"vocab": [str(i) for i in range(20)], "train": rng.integers(0, 20, 400),
            "valid": rng.integers(0, 20, 100), "test": rng.integers(0, 20, 100)}
