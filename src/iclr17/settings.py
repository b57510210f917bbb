"""Project settings: config loader, hooks and the ``project_root`` resolver."""

from pathlib import Path

from kedro.config import OmegaConfigLoader

from iclr17 import log_filters

log_filters.install()  # the known third-party warnings, listed in iclr17/log_filters.py


def _project_root() -> str:
    """The folder holding pyproject.toml: this file's checkout, else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return str(here if (here / "pyproject.toml").is_file() else Path.cwd())


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/test lists only the keys it changes
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    "custom_resolvers": {"project_root": _project_root},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}

from iclr17.hooks import (  # noqa: E402
    NamespaceRerunCommand,
    NamespaceRunName,
    StopCleanly,
    ValidateParameters,
)

HOOKS = (ValidateParameters(), StopCleanly(), NamespaceRunName(), NamespaceRerunCommand())
