"""What the scripts share: the project's catalog, so they read a run's outputs where the run's
configuration put them (``data_root``, the env), never from paths of their own."""

from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).resolve().parents[1]


def catalog(data_root: str | None = None, env: str | None = None):
    """The project's Kedro catalog (with ``params:``), for a run made with ``data_root`` / ``env``."""
    bootstrap_project(ROOT)
    params = {"data_root": data_root} if data_root else {}
    with KedroSession.create(project_path=ROOT, env=env, runtime_params=params) as session:
        return session.load_context().catalog
