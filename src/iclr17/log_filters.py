"""The third-party warnings a run's console does not show, in one place: :func:`install` (run
when the project's settings load, and in each worker process) puts :class:`ThirdPartyNoise` on the
loggers that emit them.
Each is listed with why it is noise here; the project's own warnings, and any other, still show.
(Kedro's logging config allows no project filter or handler classes without an environment
variable, so it is done here, on the loggers, which a logging reconfiguration keeps.)"""

from __future__ import annotations

import logging
import re
import warnings

# (a piece of the message, why it is dropped)
KNOWN = (
    ("Add type hints to the `predict` method", "MLflow's pyfunc, at import; the project logs no pyfunc model"),
    ("register_new_resolver() is deprecated", "OmegaConf's rename, called inside Kedro and kedro-mlflow"),
    ("dataset names contain '.'", "the project's dataset names are dotted by paper (gcn.cora.graph), as Kedro's "
                                  "namespaces would make them"),
    ("Sparse CSR tensor support is in beta", "torch, once per process: gcn's propagation matrices are CSR"),
    ("is not a valid name for a mlflow paramter", "kedro-mlflow renames the papers' labels with parentheses, "
                                                 "e.g. 'LDA (online VB)', as it logs them"),
    ("Workflow tracking is disabled", "kedro-viz's run-events file, written only for a whole __default__ run"),
)


# the loggers they come from: Python's warnings (which Kedro routes into logging), kedro-mlflow's
# and kedro-viz's hooks
LOGGERS = ("py.warnings", "kedro_mlflow.framework.hooks.mlflow_hook", "kedro_viz.integrations.kedro.run_hooks")


class ThirdPartyNoise(logging.Filter):
    """Drops the log records of ``KNOWN``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(piece in message for piece, _ in KNOWN)


def install() -> None:
    """Put the filter on ``LOGGERS`` (once), and ignore the warnings of ``KNOWN`` where they are
    not logged (a worker process prints its own)."""
    for piece, _ in KNOWN:
        warnings.filterwarnings("ignore", message=f".*{re.escape(piece)}")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ThirdPartyNoise) for f in logger.filters):
            logger.addFilter(ThirdPartyNoise())
