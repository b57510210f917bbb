"""Project hooks: parameters are checked before anything runs; a run stopped by Ctrl-C or
SIGTERM ends cleanly; a run of one namespace of a paper (one variant) is an MLflow run named after
it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# Seconds an orderly stop may take before the process leaves without it.
STOP_GRACE_S = 10.0


def _leave_after(seconds: float, code: int) -> None:
    """Exit with ``code`` after ``seconds`` if the process is still here: a process pool's
    shutdown can wait forever on a pipe its killed workers no longer read."""

    def leave():
        log.error("the orderly stop took over %.0f s; leaving without it", seconds)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, leave)
    timer.daemon = True
    timer.start()


def _stop(signum, frame) -> None:
    """Mark the active MLflow run KILLED (it keeps what it logged), stop the worker processes and
    exit with 128 + the signal's number.  The last finished epoch is already in its checkpoint."""
    import mlflow

    name = signal.Signals(signum).name
    for sig in STOP_SIGNALS:  # a second signal while stopping takes the default way out
        signal.signal(sig, signal.SIG_DFL)
    if "IPython" not in sys.modules:  # a notebook's kernel outlives a stopped run: no deadline there
        _leave_after(STOP_GRACE_S, 128 + signum)
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=2.0)
        if child.is_alive():
            child.kill()
    run = mlflow.active_run()
    if run is not None:
        mlflow.end_run(status="KILLED")
        log.error("%s: MLflow run %s marked KILLED; rerun the same command to resume from the last saved epoch",
                  name, run.info.run_id)
    raise SystemExit(128 + signum)


class StopCleanly:
    """While a pipeline runs, SIGINT and SIGTERM stop it through :func:`_stop` (by default Kedro
    marks an interrupted MLflow run FINISHED, or leaves it RUNNING after SIGTERM)."""

    def __init__(self):
        self._previous: dict = {}

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._restore()


def run_name(namespace: str) -> str:
    """The MLflow run name of a run of one namespace: ``tying.al`` -> ``tying_al``."""
    return namespace.replace(".", "_")


def _one_namespace(run_params) -> str | None:
    namespaces = run_params.get("namespaces") or []
    return namespaces[0] if len(namespaces) == 1 else None


class NamespaceRunName:
    """``kedro run --pipeline=tying --namespaces=tying.al`` (one variant) opens an MLflow run named
    ``tying_al``, not ``tying`` (kedro-mlflow names a run after its pipeline), unless mlflow.yml
    names it.  Runs before kedro-mlflow's hook, which starts the run."""

    def __init__(self):
        self._config = None

    @hook_impl(trylast=True)
    def after_context_created(self, context) -> None:
        self._config = getattr(context, "mlflow", None)  # kedro-mlflow's configuration

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        namespace = _one_namespace(run_params)
        if namespace and self._config is not None and not self._config.tracking.run.name:
            self._config.tracking.run.name = run_name(namespace)


class NamespaceRerunCommand:
    """Adds ``--namespaces`` to the ``kedro_command`` tag (kedro-mlflow's leaves it out), so the
    tag reruns the variant.  Runs after kedro-mlflow's hook, which sets the tag."""

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow

        namespaces, run = run_params.get("namespaces"), mlflow.active_run()
        if namespaces and run is not None:
            command = mlflow.get_run(run.info.run_id).data.tags.get("kedro_command", "kedro run")
            mlflow.set_tag("kedro_command", f"{command} --namespaces={','.join(namespaces)}")


class ValidateParameters:
    """Checks the parameter blocks a pipeline reads against their schemas (PARAMETER_SCHEMAS in
    pipeline_registry) before any node runs, and before kedro-mlflow opens a run: a bad key or
    value stops the run at once, naming the full key, what was expected and what was given."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from iclr17.common.schema import validate_parameters
        from iclr17.pipeline_registry import PARAMETER_SCHEMAS

        blocks = {name.removeprefix("params:").split(".")[0] for node in pipeline.nodes for name in node.inputs
                  if name.startswith("params:")}
        validate_parameters(catalog.load("parameters"), PARAMETER_SCHEMAS, blocks)
