"""The paper-vs-this-run table every pipeline writes (``paper_vs_run.json`` and its markdown)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

ROW_KEYS = ("metric", "paper", "run", "unit", "note")


def row(metric: str, paper: float | None, run: float | None, unit: str = "", note: str = "") -> dict:
    """One table row; ``paper`` or ``run`` is ``None`` where there is no number."""
    for name, value in (("paper", paper), ("run", run)):
        if value is not None and not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number or None, got {value!r}")
    return {
        "metric": metric,
        "paper": None if paper is None else float(paper),
        "run": None if run is None or (isinstance(run, float) and math.isnan(run)) else float(run),
        "unit": unit,
        "note": note,
    }


def validate_rows(rows: Iterable[Mapping]) -> list[dict]:
    out = []
    for r in rows:
        if tuple(r.keys()) != ROW_KEYS:
            raise ValueError(f"a paper_vs_run row needs exactly the keys {ROW_KEYS}, got {tuple(r)}")
        out.append(dict(r))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) >= 100:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


def to_markdown(rows: Iterable[Mapping], title: str) -> str:
    rows = validate_rows(rows)
    lines = [f"# {title}", "", "| metric | paper | this run | unit | note |", "|---|---|---|---|---|"]
    for r in rows:
        note = str(r["note"]).replace("|", "/")
        lines.append(f"| {r['metric']} | {_fmt(r['paper'])} | {_fmt(r['run'])} | {r['unit']} | {note} |")
    return "\n".join(lines) + "\n"


def final_metrics(values: Mapping[str, float]) -> dict:
    """Scalar metrics in kedro-mlflow's metrics-history form, logged at step 0."""
    return {k: {"value": float(v), "step": 0} for k, v in values.items()}
