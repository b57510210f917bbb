"""Project commands added to the ``kedro`` CLI.

``kedro variants tying`` runs every pipeline of a variant group (``tying_baseline``,
``tying_al``, ``tying_re``, ``tying_real``, then ``tying_report``), each in its own Kedro session,
so each is its own MLflow run and the runs line up in the MLflow UI.

By default the variants run one after another in this process, in the group's order.  With
``--jobs N`` the group's shared data prep (``tying_prep``) runs once (a subprocess), then up to N
variants run side by side, each a ``kedro run --pipeline=<variant> --tags=training,evaluation``
subprocess on ``cores / N`` torch threads with its output in ``--log-dir``, a variant that reads
another's output (``NEEDS`` in pipeline_registry: +AL and +REAL go on from the baseline's and
+RE's branch points) only once that one has finished, and the report runs here when all have
finished.  Small models train more tokens per second in total as two one-thread processes than
as one two-thread process (measured in docs/results.md, tying section)."""

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

VARIANT_TAGS = "training,evaluation"  # a variant's own nodes: all but the shared data prep


@click.group(name="iclr17")
def cli():
    """iclr17 project commands."""


def _session_run(project: Path, env: str | None, params: dict, name: str) -> None:
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        session.run(pipeline_names=[name])


def kedro_run_command(name: str, env: str | None, params: str, tags: str | None = None) -> list[str]:
    """``kedro run --pipeline=<name>`` in this Python, with ``--tags``, ``--env``, ``--params``."""
    command = [sys.executable, "-m", "kedro", "run", f"--pipeline={name}"]
    if tags:
        command.append(f"--tags={tags}")
    if env:
        command.append(f"--env={env}")
    if params:
        command.append(f"--params={params}")
    return command


def variant_command(name: str, env: str | None, params: str) -> list[str]:
    """The ``kedro run`` of one variant without its shared data prep."""
    return kedro_run_command(name, env, params, VARIANT_TAGS)


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def _check_prep_covers(group: str, names: list[str]) -> str:
    """The name of the group's prep pipeline, after checking it holds every data-prep node of
    ``names`` (the variants skip theirs, so a node missing from it would never run)."""
    from iclr17.pipeline_registry import prep_pipeline_name, register_pipelines

    pipelines, prep = register_pipelines(), prep_pipeline_name(group)
    for name in names:
        missing = set(pipelines[name].only_nodes_with_tags("data_prep").nodes) - set(pipelines[prep].nodes)
        if missing:
            raise click.ClickException(f"{prep} lacks data-prep nodes of {name}: {sorted(n.name for n in missing)}")
    return prep


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
@click.option("--only", multiple=True, help="Run only these pipelines of the group (repeatable).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1),
              help="Variants run side by side, each a subprocess on cores/jobs threads.")
@click.option("--log-dir", default="logs/variants", show_default=True, type=click.Path(path_type=Path),
              help="With --jobs > 1: where each variant's output goes.")
@click.pass_context
def variants(ctx: click.Context, group: str, env: str | None, raw_params: str, only: tuple[str, ...],
             jobs: int, log_dir: Path):
    """Run each pipeline of GROUP (e.g. tying) as its own Kedro session and MLflow run."""
    params = _split_params(ctx, next(p for p in ctx.command.params if p.name == "raw_params"), raw_params)
    run_group(group, env, params, raw_params, only, jobs, log_dir)


def run_group(group: str, env: str | None, params: dict, raw_params: str, only=(), jobs: int = 1,
              log_dir: Path = Path("logs/variants")) -> None:
    """Every pipeline of variant group ``group``, each its own Kedro session (``jobs`` > 1: the
    variants as side-by-side subprocesses after the shared prep), then the group's report."""
    from iclr17.pipeline_registry import NEEDS, VARIANT_GROUPS

    if group not in VARIANT_GROUPS:
        raise click.BadParameter(f"unknown group {group!r}; known: {sorted(VARIANT_GROUPS)}")
    names = [n for n in VARIANT_GROUPS[group] if not only or n in only]
    project = Path.cwd()
    bootstrap_project(project)
    report = VARIANT_GROUPS[group][-1]
    parallel = [n for n in names if n != report]
    if jobs == 1 or len(parallel) < 2:
        for name in names:
            click.secho(f"== kedro run --pipeline={name}", fg="green")
            _session_run(project, env, params, name)
        return
    prep = _check_prep_covers(group, parallel)
    # the prep runs in a subprocess too: a session whose MLflow tracking is disabled, run in a
    # process that has run tracked sessions before, was seen to re-open the last of their runs
    click.secho(f"== kedro run --pipeline={prep} (shared data prep, not tracked)", fg="green")
    if run_side_by_side({prep: kedro_run_command(prep, env, raw_params)}, 1, threads_per_job(1),
                        project / log_dir, cwd=project):
        raise click.ClickException(f"{prep} failed; no variant run")
    start = time.monotonic()
    commands = {n: variant_command(n, env, raw_params) for n in parallel}
    failed = run_side_by_side(commands, jobs, threads_per_job(jobs), project / log_dir, cwd=project, needs=NEEDS)
    click.secho(f"== {len(parallel)} variants, {jobs} at a time: {(time.monotonic() - start) / 60:.1f} min", fg="green")
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)}; {report} not run")
    if report in names:
        click.secho(f"== kedro run --pipeline={report}", fg="green")
        _session_run(project, env, params, report)


def _params_string(params: dict) -> str:
    from iclr17.common.config import flatten

    return ",".join(f"{k}={v}" for k, v in flatten(params).items())


@cli.command(name="run", params=list(_kedro_run.params), help=_kedro_run.help,
             context_settings=_kedro_run.context_settings)
@click.pass_context
def run(ctx: click.Context, **kwargs):
    """Kedro's ``run``, where a paper with variants (``--pipelines=tying``, ``noising``) runs its whole
    table: each variant its own Kedro session and MLflow run, as ``kedro variants <paper>`` does.
    ``--pipeline`` and ``--pipelines`` both work, without Kedro's deprecation warning."""
    from iclr17.pipeline_registry import VARIANT_GROUPS

    names = [kwargs["pipeline"]] if kwargs.get("pipeline") else list(kwargs.get("pipelines") or [])
    if any(n in VARIANT_GROUPS for n in names):
        if len(names) > 1:
            raise click.UsageError(f"run a paper with variants ({', '.join(VARIANT_GROUPS)}) on its own")
        params = kwargs.get("params") or {}
        run_group(names[0], kwargs.get("env"), params, _params_string(params))
        return None
    kwargs.update(pipeline=None, pipelines=names)
    return ctx.invoke(_kedro_run, **kwargs)
