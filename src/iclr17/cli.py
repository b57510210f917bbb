"""Project commands added to the ``kedro`` CLI.

``kedro run --pipeline=tying`` (or ``noising``) runs each namespace of the paper's pipeline
(``tying.prep``, ``tying.baseline``, ..., ``tying.report``: ``VARIANT_GROUPS`` in
pipeline_registry) as its own Kedro session, so each is its own MLflow run (``tying_baseline``,
...) and the runs line up in the MLflow UI; ``--namespaces=tying.al`` runs just that one.

``kedro variants tying --jobs N`` does the same with up to N variants side by side: the prep runs
first, then each variant is a ``kedro run --pipeline=tying --namespaces=tying.<variant>``
subprocess on ``cores / N`` torch threads with its output in ``--log-dir``, a variant that reads
another's output (``NEEDS``: +AL and +REAL go on from the baseline's and +RE's branch points) only
once that one has finished, and the report runs here when all have finished.  Small models train
more tokens per second in total as two one-thread processes than as one two-thread process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
from kedro.framework.cli.project import run as _kedro_run
from kedro.framework.cli.utils import _split_params
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import SequentialRunner

# Kedro run options that select part of a pipeline: with one of them a paper runs as Kedro runs it
SELECTION_OPTIONS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs")


@click.group(name="iclr17")
def cli():
    """iclr17 project commands."""


def _session_run(project: Path, env: str | None, params: dict, group: str, namespace: str) -> None:
    click.secho(f"== kedro run --pipeline={group} --namespaces={namespace}", fg="green")
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        session.run(pipeline_names=[group], namespaces=[namespace], runner=SequentialRunner())


def namespace_command(group: str, namespace: str, env: str | None, params: str) -> list[str]:
    """``kedro run --pipeline=<group> --namespaces=<namespace>`` in this Python, with ``--env`` and
    ``--params``."""
    command = [sys.executable, "-m", "kedro", "run", f"--pipeline={group}", f"--namespaces={namespace}"]
    if env:
        command.append(f"--env={env}")
    if params:
        command.append(f"--params={params}")
    return command


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def run_side_by_side(commands: dict[str, list[str]], jobs: int, threads: int, log_dir: Path,
                     cwd: Path | None = None, needs: dict[str, str] | None = None) -> list[str]:
    """Run the commands (in ``cwd``), in their order, at most ``jobs`` at a time, each with its
    output in ``log_dir/<name>.log``; a command whose ``needs`` entry is another of them starts
    only after that one has succeeded, and not at all if it failed.  Return the names of those that
    failed or did not run."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    needs = {k: v for k, v in (needs or {}).items() if k in commands and v in commands}
    waiting, running, failed, done = list(commands), {}, [], set()
    while waiting or running:
        for name in [n for n in waiting if needs.get(n) in failed]:
            waiting.remove(name)
            failed.append(name)
            click.secho(f"== {name} not run: {needs[name]} failed", fg="red", err=True)
        ready = [n for n in waiting if n not in needs or needs[n] in done]
        if waiting and not ready and not running:
            raise click.ClickException(f"cannot start {waiting}: each needs one that will not run ({needs})")
        while ready and len(running) < jobs:
            name = ready.pop(0)
            waiting.remove(name)
            log = log_dir / f"{name}.log"
            with log.open("w") as out:
                proc = subprocess.Popen(commands[name], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
            running[name] = (proc, time.monotonic(), log)
            click.secho(f"== started {name} on {threads} thread(s), log: {log}", fg="green")
        time.sleep(1.0)
        for name, (proc, start, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            minutes = (time.monotonic() - start) / 60
            if proc.returncode == 0:
                done.add(name)
                click.secho(f"== {name} finished in {minutes:.1f} min", fg="green")
            else:
                failed.append(name)
                tail = log.read_text(errors="replace").splitlines()[-20:]
                click.secho(f"== {name} FAILED (exit {proc.returncode}) after {minutes:.1f} min; "
                            f"last lines of {log}:\n" + "\n".join(tail), fg="red", err=True)
    return failed


@cli.command()
@click.argument("group")
@click.option("--env", "-e", default=None, help="Kedro configuration environment, e.g. test.")
@click.option("--params", "raw_params", default="", help="Runtime parameters, as for kedro run.")
@click.option("--only", multiple=True, help="Run only these namespaces of the group, e.g. tying.al (repeatable).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1),
              help="Variants run side by side, each a subprocess on cores/jobs threads.")
@click.option("--log-dir", default="logs/variants", show_default=True, type=click.Path(path_type=Path),
              help="With --jobs > 1: where each variant's output goes.")
@click.pass_context
def variants(ctx: click.Context, group: str, env: str | None, raw_params: str, only: tuple[str, ...],
             jobs: int, log_dir: Path):
    """Run each namespace of GROUP (e.g. tying) as its own Kedro session and MLflow run."""
    params = _split_params(ctx, next(p for p in ctx.command.params if p.name == "raw_params"), raw_params)
    run_group(group, env, params, raw_params, only, jobs, log_dir)


def group_namespaces(group: str, only=()) -> list[str]:
    """The namespaces of variant group ``group`` to run, in order (``only``: just these)."""
    from iclr17.pipeline_registry import VARIANT_GROUPS

    if group not in VARIANT_GROUPS:
        raise click.BadParameter(f"unknown group {group!r}; known: {sorted(VARIANT_GROUPS)}")
    unknown = set(only) - set(VARIANT_GROUPS[group])
    if unknown:
        raise click.BadParameter(f"{group} has no namespace {sorted(unknown)}; known: {VARIANT_GROUPS[group]}")
    return [n for n in VARIANT_GROUPS[group] if not only or n in only]


def run_group(group: str, env: str | None, params: dict, raw_params: str, only=(), jobs: int = 1,
              log_dir: Path = Path("logs/variants")) -> None:
    """Each namespace of variant group ``group``, each its own Kedro session (``jobs`` > 1: the
    variants as side-by-side subprocesses between the prep and the report)."""
    from iclr17.pipeline_registry import NEEDS, VARIANT_GROUPS

    names = group_namespaces(group, only)
    project = Path.cwd()
    bootstrap_project(project)
    prep, report = VARIANT_GROUPS[group][0], VARIANT_GROUPS[group][-1]
    parallel = [n for n in names if n not in (prep, report)]
    if jobs == 1 or len(parallel) < 2:
        for name in names:
            _session_run(project, env, params, group, name)
        return
    if prep in names:
        _session_run(project, env, params, group, prep)
    start = time.monotonic()
    commands = {n: namespace_command(group, n, env, raw_params) for n in parallel}
    failed = run_side_by_side(commands, jobs, threads_per_job(jobs), project / log_dir, cwd=project, needs=NEEDS)
    click.secho(f"== {len(parallel)} variants, {jobs} at a time: {(time.monotonic() - start) / 60:.1f} min", fg="green")
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)}; {report} not run")
    if report in names:
        _session_run(project, env, params, group, report)


def _params_string(params: dict) -> str:
    from iclr17.common.config import flatten

    return ",".join(f"{k}={v}" for k, v in flatten(params).items())


@cli.command(name="run", params=list(_kedro_run.params), help=_kedro_run.help,
             context_settings=_kedro_run.context_settings)
@click.pass_context
def run(ctx: click.Context, **kwargs):
    """Kedro's ``run``, where a paper with variants (``--pipeline=tying``, ``noising``) runs its whole
    table, each namespace its own Kedro session and MLflow run (``--namespaces`` picks some), as
    ``kedro variants <paper>`` does.  With another selection (``--tags``, ``--nodes``, ...) Kedro's
    run runs it as one session.  ``--pipeline`` and ``--pipelines`` both work, without Kedro's
    deprecation warning."""
    from iclr17.pipeline_registry import VARIANT_GROUPS

    names = [kwargs["pipeline"]] if kwargs.get("pipeline") else list(kwargs.get("pipelines") or [])
    if any(n in VARIANT_GROUPS for n in names) and not any(kwargs.get(o) for o in SELECTION_OPTIONS):
        if len(names) > 1:
            raise click.UsageError(f"run a paper with variants ({', '.join(VARIANT_GROUPS)}) on its own")
        params = kwargs.get("params") or {}
        run_group(names[0], kwargs.get("env"), params, _params_string(params), kwargs.get("namespaces") or ())
        return None
    kwargs.update(pipeline=None, pipelines=names)
    return ctx.invoke(_kedro_run, **kwargs)
