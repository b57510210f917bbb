"""Shared fixtures: the data mirror, one migrated MLflow database per test session, and a
Kedro session runner for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
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

    folder = tmp_path_factory.mktemp("mlflow")
    db = folder / "template.db"
    # the experiment the pipelines log to, with its artifacts in the test's temporary folder (not
    # in the checkout's mlruns/); every copy of the template shares it, run ids keep them apart
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").create_experiment(
        "iclr17", artifact_location=(folder / "artifacts").as_uri())
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


class TestEnvProject:
    """This project run with ``--env=test`` into one data folder and one MLflow database, shared by
    the whole test session: each pipeline (or ``kedro variants`` group) runs once, on first use,
    so the end-to-end tests, the report, the notebooks and the browser tests see the same runs."""

    __test__ = False  # not a test class
    # groups run with ``--jobs 2`` (variants as side-by-side subprocesses); the others one after
    # another in this process, so the tests cover both ways of ``kedro variants``
    SIDE_BY_SIDE = ("tying",)

    def __init__(self, root: Path, tracking_uri: str):
        self.data_root = root / "data"
        self.log_dir = root / "logs"
        self.tracking_uri = tracking_uri
        self._done: dict[str, BaseException | None] = {}

    @property
    def runtime_params(self) -> dict:
        return {"data_root": str(self.data_root), "mlflow_tracking_uri": self.tracking_uri}

    def ensure(self, name: str) -> None:
        """Run pipeline (or variant group) ``name`` unless it has run; re-raise its failure."""
        if name not in self._done:
            try:
                self._run(name)
                self._done[name] = None
            except BaseException as error:  # remembered, so later users see the same failure
                self._done[name] = error
        if self._done[name] is not None:
            raise RuntimeError(f"the test-env run of {name!r} failed") from self._done[name]

    def _run(self, name: str) -> None:
        from iclr17.pipeline_registry import VARIANT_GROUPS

        if name in VARIANT_GROUPS:  # through the real CLI command, one session per pipeline
            from click.testing import CliRunner

            from iclr17.cli import variants

            cwd = os.getcwd()
            os.chdir(ROOT)
            try:
                params = ",".join(f"{k}={v}" for k, v in self.runtime_params.items())
                args = [name, "--env", "test", "--params", params]
                if name in self.SIDE_BY_SIDE:
                    args += ["--jobs", "2", "--log-dir", str(self.log_dir)]
                result = CliRunner().invoke(variants, args)
            finally:
                os.chdir(cwd)
            assert result.exit_code == 0, result.output + repr(result.exception)
            return
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        bootstrap_project(ROOT)
        with KedroSession.create(project_path=ROOT, env="test", runtime_params=self.runtime_params) as session:
            session.run(pipeline_names=[name])

    def client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.tracking_uri)

    def mlflow_runs(self, name: str) -> list:
        """The MLflow runs named ``name`` (a pipeline's runs), newest first."""
        client = self.client()
        exp = client.get_experiment_by_name("iclr17")
        return client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{name}'",
                                  order_by=["attributes.start_time DESC"])


@pytest.fixture(scope="session")
def test_env(_mlflow_template, tmp_path_factory, mirror) -> TestEnvProject:
    root = tmp_path_factory.mktemp("test_env")
    shutil.copyfile(_mlflow_template, root / "mlflow.db")
    return TestEnvProject(root, f"sqlite:///{root / 'mlflow.db'}")


def random_lm_corpus(vocab_size: int, train_tokens: int, eval_tokens: int) -> dict:
    """A corpus of uniformly random token ids in the shape the language-model nodes take."""
    import numpy as np

    rng = np.random.default_rng(0)
    return {"vocab": [str(i) for i in range(vocab_size)], "train": rng.integers(0, vocab_size, train_tokens),
            "valid": rng.integers(0, vocab_size, eval_tokens), "test": rng.integers(0, vocab_size, eval_tokens)}


@pytest.fixture(scope="module")
def toy_lm_corpus():
    """A random 20-type corpus for language-model node tests."""
    return random_lm_corpus(20, 400, 100)


class StoppedAfterSave(Exception):
    """Raised by :func:`stop_after_save`: as if the process were killed right after a checkpoint."""


@contextmanager
def stop_after_save(epoch: int):
    """Inside the block, ``Checkpoint.save`` raises :class:`StoppedAfterSave` just after writing
    the state of ``epoch``; the block must end that way."""
    from iclr17.common.checkpoint import Checkpoint

    save = Checkpoint.save

    def save_then_stop(self, saved_epoch, state, keep=False):
        save(self, saved_epoch, state, keep)
        if saved_epoch == epoch:
            raise StoppedAfterSave

    Checkpoint.save = save_then_stop
    try:
        with pytest.raises(StoppedAfterSave):
            yield
    finally:
        Checkpoint.save = save
