"""The paper-vs-this-run table every pipeline writes (``paper_vs_run.json`` and its markdown)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

ROW_KEYS = ("metric", "paper", "run", "unit", "note", "sd")
OLD_ROW_KEYS = ROW_KEYS[:-1]  # rows written before ``sd`` existed (older MLflow artifacts)


def row(
    metric: str, paper: float | None, run: float | None, unit: str = "", note: str = "", sd: float | None = None
) -> dict:
    """One table row; ``paper`` or ``run`` is ``None`` where there is no number; ``sd`` is the
    standard deviation of ``run`` over seeds or starts where it is a mean of several."""
    for name, value in (("paper", paper), ("run", run), ("sd", sd)):
        if value is not None and not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number or None, got {value!r}")
    return {
        "metric": metric,
        "paper": None if paper is None else float(paper),
        "run": None if run is None or (isinstance(run, float) and math.isnan(run)) else float(run),
        "unit": unit,
        "note": note,
        "sd": None if sd is None else float(sd),
    }


def validate_rows(rows: Iterable[Mapping]) -> list[dict]:
    out = []
    for r in rows:
        if tuple(r.keys()) == OLD_ROW_KEYS:
            r = {**r, "sd": None}
        if tuple(r.keys()) != ROW_KEYS:
            raise ValueError(f"a paper_vs_run row needs exactly the keys {ROW_KEYS}, got {tuple(r)}")
        out.append(dict(r))
    return out


def format_run(r: Mapping) -> str:
    """The run column: ``mean ± sd`` where the row has a spread, else the value."""
    sd = r.get("sd")
    return format_number(r["run"]) if sd is None or r["run"] is None else f"{format_number(r['run'])} ± {format_number(sd)}"


def format_number(value: float | None) -> str:
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
        lines.append(f"| {r['metric']} | {format_number(r['paper'])} | {format_run(r)} | {r['unit']} | {note} |")
    return "\n".join(lines) + "\n"


def final_metrics(values: Mapping[str, float]) -> dict:
    """Scalar metrics in kedro-mlflow's metrics-history form, logged at step 0."""
    return {k: {"value": float(v), "step": 0} for k, v in values.items()}


def mean_sd(values, single_sd: float | None = None) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1) of ``values``; sd ``single_sd`` for one value,
    both None for none.  Every pipeline's "mean ± sd over seeds" comes from here."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, single_sd
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
