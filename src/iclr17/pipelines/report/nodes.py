"""The reproduction report: every paper's headline table beside this project's latest MLflow runs.

Pure functions of the runs (``MlflowRunsDataset``) and ``params:report``; rendering to HTML and
markdown is done here, the files are written by the catalog."""

from __future__ import annotations

import ast
import base64
import html
import re
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime

from iclr17.common.config import check_keys, flatten
from iclr17.common.reporting import (
    final_metrics,
    format_number,
    format_run,
    validate_rows,
)
from iclr17.hooks import run_name

REPRODUCED, NOT_REPRODUCED, NOT_RUN, NO_TARGET = "reproduced", "not reproduced", "not run", "no target"
RULES = ("within", "at_least", "at_most", "above_row", "below_row")
PAPER_KEYS = ("title", "authors", "headline", "runs", "command")
WHOLE_RUN_ENVS = ("base", "local")
# runtime params that only say where things go, not what is computed
LOCATION_PARAMS = frozenset({"data_root", "mlflow_tracking_uri"})
# kedro-mlflow's tags of the Kedro run options that run only part of a pipeline
SELECTION_TAGS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs", "namespaces")


# ---------------------------------------------------------------- how a run was made


def _is_own_namespace(namespaces: str | None, name: str | None) -> bool:
    """Whether a run's namespaces tag (e.g. ``['tying.al']``) is the one it is named after."""
    try:
        selected = ast.literal_eval(namespaces or "[]")
    except (ValueError, SyntaxError):
        return False
    return len(selected) == 1 and run_name(selected[0]) == name


def run_provenance(tags: Mapping[str, str]) -> dict:
    """Env, runtime params and node selection of a run (the tags kedro-mlflow sets from Kedro's
    run_params), why it is not a whole default run, and the command that makes it again."""
    env = tags.get("env") or "local"
    try:
        runtime = ast.literal_eval(tags.get("runtime_params") or "{}")
    except (ValueError, SyntaxError):
        runtime = {"runtime_params": tags["runtime_params"]}
    params = {k: v for k, v in flatten(runtime).items() if k not in LOCATION_PARAMS}
    selection = {k: tags[k] for k in SELECTION_TAGS if tags.get(k)}
    if _is_own_namespace(selection.get("namespaces"), tags.get("mlflow.runName")):
        del selection["namespaces"]  # a variant of a paper: the whole run of that namespace
    reasons = []
    if env not in WHOLE_RUN_ENVS:
        reasons.append(f"config env {env!r}")
    if params:
        reasons.append("params " + ", ".join(f"{k}={v}" for k, v in params.items()))
    if selection:
        reasons.append("part of the pipeline: " + ", ".join(f"{k}={v}" for k, v in selection.items()))
    command = tags.get("kedro_command", "")
    if env != "local":
        command += f" --env={env}"
    if params:
        command += " --params " + shlex.quote(",".join(f"{k}={v}" for k, v in params.items()))
    return {"env": env, "runtime_params": params, "selection": selection, "command": command,
            "reduced": bool(reasons), "reduced_because": "; ".join(reasons)}


# ---------------------------------------------------------------- targets


def check_targets(targets: list[dict]) -> list[dict]:
    out = []
    for t in targets or []:
        t = check_keys(t, "report target", ["metric"], [*RULES, "why"])
        if not any(k in t for k in RULES):
            raise ValueError(f"report target {t} needs one of {RULES}")
        re.compile(t["metric"])
        out.append(t)
    return out


def row_status(r: Mapping, rows_by_metric: Mapping[str, Mapping], targets: list[dict]) -> tuple[str, str]:
    """``(status, target text)`` of one row against the targets whose ``metric`` regex matches it."""
    rules = [t for t in targets if re.search(t["metric"], r["metric"])]
    if not rules:
        return (NOT_RUN if r["run"] is None else NO_TARGET), ""
    texts, ok = [], r["run"] is not None
    for t in rules:
        for kind in RULES:
            if kind not in t:
                continue
            bound = t[kind]
            if kind == "within":
                texts.append(f"within {format_number(bound)} of the paper")
                ok = ok and r["paper"] is not None and abs(r["run"] - r["paper"]) <= bound
            elif kind == "at_least":
                texts.append(f"≥ {format_number(bound)}")
                ok = ok and r["run"] >= bound
            elif kind == "at_most":
                texts.append(f"≤ {format_number(bound)}")
                ok = ok and r["run"] <= bound
            else:  # above_row / below_row: compare with another row of the same paper
                other = rows_by_metric.get(bound)
                texts.append(f"{'>' if kind == 'above_row' else '<'} {bound}")
                if other is None or other["run"] is None or r["run"] is None:
                    ok = False
                else:
                    ok = ok and (r["run"] > other["run"] if kind == "above_row" else r["run"] < other["run"])
    if r["run"] is None:
        return NOT_RUN, "; ".join(texts)
    return (REPRODUCED if ok else NOT_REPRODUCED), "; ".join(texts)


# ---------------------------------------------------------------- the report


def _ms_to_iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def build_report(runs: Mapping[str, dict], params: Mapping) -> tuple[dict, dict]:
    """The report as plain data (one section per paper, rows with status and provenance) and
    the report run's final metrics (row counts per status)."""
    params = check_keys(params, "report", ["mlflow_ui", "papers"], ["figures_dir"])
    ui = params["mlflow_ui"]
    sections, counts = [], {REPRODUCED: 0, NOT_REPRODUCED: 0, NOT_RUN: 0, NO_TARGET: 0, "reduced": 0}
    for key, paper in params["papers"].items():
        paper = check_keys(paper, f"report.papers.{key}", list(PAPER_KEYS), ["targets"])
        targets = check_targets(paper.get("targets"))
        section_runs, rows, seen = [], [], set()
        for name in paper["runs"]:
            run = runs.get(name)
            if run is None:
                section_runs.append({"run_name": name, "missing": True})
                continue
            prov = run_provenance(run["tags"])
            url = run_url(ui, run["experiment_id"], run["run_id"])
            wall = None if run["end_time"] is None else (run["end_time"] - run["start_time"]) / 1000
            section_runs.append({"run_name": name, "missing": False, "run_id": run["run_id"], "url": url,
                                 "started": _ms_to_iso(run["start_time"]), "wall_s": wall,
                                 "finished_runs_with_this_name": run["finished_runs_with_this_name"],
                                 "plots": sorted(run["plots"]), **prov})
            for r in validate_rows(run["paper_vs_run"]):
                if r["metric"] in seen:  # a summary run repeats its variants' rows: keep the first
                    continue
                seen.add(r["metric"])
                rows.append({**r, "run_name": name, "run_id": run["run_id"], "url": url,
                             "command": prov["command"], "reduced": prov["reduced"],
                             "reduced_because": prov["reduced_because"]})
        by_metric = {r["metric"]: r for r in rows}
        for r in rows:
            r["status"], r["target"] = row_status(r, by_metric, targets)
            counts[r["status"]] += 1
            counts["reduced"] += int(r["reduced"])
        sections.append({"key": key, "title": paper["title"], "authors": paper["authors"],
                         "headline": paper["headline"], "command": paper["command"],
                         "runs": section_runs, "rows": rows})
    report = {"mlflow_ui": ui, "sections": sections, "counts": counts}
    metrics = final_metrics({f"rows_{k.replace(' ', '_')}": v for k, v in counts.items()})
    return report, metrics


# ---------------------------------------------------------------- rendering

# symbols every DejaVu-style font has (colour emoji are missing on many Linux machines)
_BADGE = {REPRODUCED: "✓ reproduced", NOT_REPRODUCED: "✗ not reproduced", NOT_RUN: "… not run", NO_TARGET: "· no target"}
_REDUCED = "⚠ reduced/modified run"


TITLE = "iclr17: the papers' headline numbers beside this project's latest runs"


def _summary(c: Mapping[str, int]) -> str:
    return (f"Rows: {c[REPRODUCED]} reproduced, {c[NOT_REPRODUCED]} not reproduced, {c[NOT_RUN]} not run, "
            f"{c[NO_TARGET]} without a target; {c['reduced']} from reduced or modified runs (marked {_REDUCED}).")


def _delta(r: Mapping) -> str:
    if r["paper"] is None or r["run"] is None:
        return "–"
    return f"{r['run'] - r['paper']:+.4g}"


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {s:02d} s"


def figure_name(section_key: str, run_name: str, plot: str) -> str:
    return f"{section_key}/{run_name}__{plot.replace('/', '_')}"


def report_figures(report: Mapping, runs: Mapping[str, dict]) -> dict[str, bytes]:
    """The plots of every run in the report, as partitions ``<paper>/<run>__<file>.png``."""
    out = {}
    for sec in report["sections"]:
        for run in sec["runs"]:
            for plot in run.get("plots", []):
                out[figure_name(sec["key"], run["run_name"], plot).removesuffix(".png")] = runs[run["run_name"]]["plots"][plot]
    return out


def render_markdown(report: Mapping, figures_dir: str) -> str:
    lines = [f"# {TITLE}", "", f"{_summary(report['counts'])} Run links open the MLflow UI at {report['mlflow_ui']}.", ""]
    for sec in report["sections"]:
        lines += [f"## `{sec['key']}`: {sec['title']}", "", f"*{sec['authors'].rstrip('.')}.* {sec['headline']}", "",
                  f"Reproduce: `{sec['command']}`", ""]
        if sec["rows"]:
            lines += ["| metric | paper | this run | Δ | status | target | run | note |", "|---|---|---|---|---|---|---|---|"]
            for r in sec["rows"]:
                run = f"[{r['run_name']}]({r['url']})" + (f" {_REDUCED}" if r["reduced"] else "")
                note = str(r["note"]).replace("|", "/")
                lines.append(f"| {r['metric']} | {format_number(r['paper'])} | {format_run(r)} {r['unit']} | "
                             f"{_delta(r)} | {_BADGE[r['status']]} | {r['target']} | {run} | {note} |")
            lines.append("")
        lines += ["Runs:", ""]
        for run in sec["runs"]:
            if run["missing"]:
                lines.append(f"- `{run['run_name']}`: **no finished run with a paper_vs_run table yet** (not run)")
                continue
            flag = f" {_REDUCED}: {run['reduced_because']}" if run["reduced"] else ""
            lines.append(f"- [`{run['run_name']}` {run['run_id'][:8]}]({run['url']}), {run['started']}, "
                         f"wall {_wall(run['wall_s'])}, command `{run['command']}`{flag}")
        lines.append("")
        for run in sec["runs"]:
            for plot in run.get("plots", []):
                lines += [f"![{run['run_name']}: {plot}]({figures_dir}/{figure_name(sec['key'], run['run_name'], plot)})", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:78rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}tr.reproduced td.status{background:#e3f6e3}
tr.not-reproduced td.status{background:#fbe3e3}tr.not-run td.status{background:#fff4d6}.reduced{color:#a15c00;font-weight:600}
code{background:#f5f5f5;padding:0 .2rem}figure{display:inline-block;margin:.5rem}figure img{max-width:36rem}"""


def render_html(report: Mapping, runs: Mapping[str, dict]) -> str:
    e = html.escape
    ui = e(report["mlflow_ui"])
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>iclr17 reproduction report</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(TITLE)}</h1>",
           f"<p id='summary'>{e(_summary(report['counts']))} Run links open the MLflow UI at <a href='{ui}'>{ui}</a>.</p>"]
    for sec in report["sections"]:
        out += [f"<section id='{e(sec['key'])}'><h2><code>{e(sec['key'])}</code>: {e(sec['title'])}</h2>",
                f"<p><em>{e(sec['authors'].rstrip('.'))}.</em> {e(sec['headline'])}</p>",
                f"<p>Reproduce: <code>{e(sec['command'])}</code></p>"]
        if sec["rows"]:
            out.append("<table><tr><th>metric</th><th>paper</th><th>this run</th><th>Δ</th><th>status</th>"
                       "<th>target</th><th>run</th><th>command</th><th>note</th></tr>")
            for r in sec["rows"]:
                reduced = f"<br><span class='reduced' title='{e(r['reduced_because'])}'>{_REDUCED}</span>" if r["reduced"] else ""
                out.append(
                    f"<tr class='{r['status'].replace(' ', '-')}'><td>{e(r['metric'])}</td>"
                    f"<td class='num'>{format_number(r['paper'])}</td><td class='num'>{e(format_run(r))} {e(r['unit'])}</td>"
                    f"<td class='num'>{_delta(r)}</td><td class='status'>{_BADGE[r['status']]}</td><td>{e(r['target'])}</td>"
                    f"<td><a href='{e(r['url'])}'>{e(r['run_name'])}</a>{reduced}</td>"
                    f"<td><code>{e(r['command'])}</code></td><td>{e(str(r['note']))}</td></tr>")
            out.append("</table>")
        out.append("<ul class='runs'>")
        for run in sec["runs"]:
            if run["missing"]:
                out.append(f"<li><code>{e(run['run_name'])}</code>: <strong>no finished run with a paper_vs_run "
                           "table yet</strong> (not run)</li>")
                continue
            flag = f" <span class='reduced'>{_REDUCED}: {e(run['reduced_because'])}</span>" if run["reduced"] else ""
            out.append(f"<li><a href='{e(run['url'])}'><code>{e(run['run_name'])}</code> {e(run['run_id'][:8])}</a>, "
                       f"{e(str(run['started']))}, wall {_wall(run['wall_s'])}, "
                       f"{run['finished_runs_with_this_name']} finished run(s) of this name, "
                       f"command <code>{e(run['command'])}</code>{flag}</li>")
        out.append("</ul>")
        for run in sec["runs"]:
            for plot in run.get("plots", []):
                data = base64.b64encode(runs[run["run_name"]]["plots"][plot]).decode()
                out.append(f"<figure><img alt='{e(run['run_name'])}: {e(plot)}' src='data:image/png;base64,{data}'>"
                           f"<figcaption>{e(run['run_name'])}: {e(plot)}</figcaption></figure>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)
