"""Project commands added to the ``kedro`` CLI.

``kedro variants tying`` runs every pipeline of a variant group (``tying_baseline``,
``tying_al``, ``tying_re``, ``tying_real``, then ``tying_report``) one after another, each in its
own Kedro session, so each is its own MLflow run and the runs line up in the MLflow UI."""

from __future__ import annotations

import click
from kedro.framework.cli.utils import _split_params
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pathlib import Path


@click.group(name="iclr17")
def cli():
    """iclr17 project commands."""


@cli.command()
@click.argument("group")
@click.option("--env", "-e", default=None, help="Kedro configuration environment, e.g. test.")
@click.option("--params", default="", callback=_split_params, help="Runtime parameters, as for kedro run.")
@click.option("--only", multiple=True, help="Run only these pipelines of the group (repeatable).")
def variants(group: str, env: str | None, params: dict, only: tuple[str, ...]):
    """Run each pipeline of GROUP (e.g. tying) as its own Kedro session and MLflow run."""
    from iclr17.pipeline_registry import VARIANT_GROUPS

    if group not in VARIANT_GROUPS:
        raise click.BadParameter(f"unknown group {group!r}; known: {sorted(VARIANT_GROUPS)}")
    names = [n for n in VARIANT_GROUPS[group] if not only or n in only]
    project = Path.cwd()
    bootstrap_project(project)
    for name in names:
        click.secho(f"== kedro run --pipeline={name}", fg="green")
        with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
            session.run(pipeline_names=[name])
