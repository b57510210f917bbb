"""The shape of ``parameters_report.yml`` (checked before any node runs)."""

from __future__ import annotations

from pydantic import Field

from iclr17.common.schema import Schema


class Target(Schema):
    metric: str  # a regular expression on a paper_vs_run row's metric
    within: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    above_row: str | None = None
    below_row: str | None = None
    why: str | None = None


class Paper(Schema):
    title: str
    authors: str
    headline: str
    runs: list[str] = Field(min_length=1)
    command: str
    targets: list[Target] = []


class Report(Schema):
    mlflow_ui: str
    figures_dir: str | None = None
    papers: dict[str, Paper]
