"""How far does a 100-seed mean of the GCN move with the draw of seeds?  One propagation model on
one dataset, trained with the pipeline's own parameters (``conf/<env>/parameters_gcn.yml``, the
official protocol) for many seeds, and summarised: the mean, the early stops (runs the
early-stopping rule ended within the first quarter of the allowed epochs, before they had learned,
as the pipeline's accuracy table counts them), the means of consecutive blocks of 100 seeds, and the
chance that a mean of 100 seeds drawn from this spread reaches a target (a bootstrap over the seeds).

    ICLR17_DATA_MIRROR=../shared/data python scripts/gcn_seed_spread.py citeseer 100:600 \
        [--model renormalization] [--workers 1] [--target 70.0] [--csv out.csv]

The data come through the project's catalog (``gcn.raw_<dataset>``); seeds ``A:B`` are A..B-1.
With ``--csv`` the per-seed rows are written (seed, test_acc as a fraction, epochs run); seeds
already in that file are not rerun, so a spread can be built across sessions, and a file of the
same columns made by another implementation (the official code, say) is summarised the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _project import catalog

from iclr17.pipelines.gcn import nodes

BOOTSTRAP, BLOCK = 10_000, 100


def seed_range(text: str) -> list[int]:
    start, stop = (int(x) for x in text.split(":"))
    if stop <= start:
        raise argparse.ArgumentTypeError(f"seeds {text!r}: need A:B with B > A")
    return list(range(start, stop))


def summarise(rows: pd.DataFrame, target: float, max_epochs: int, rng: np.random.Generator) -> dict:
    acc = rows["test_acc"].to_numpy() * 100
    early = nodes.early_stopped(rows["epochs"], max_epochs)
    means = rng.choice(acc, size=(BOOTSTRAP, BLOCK), replace=True).mean(axis=1)
    blocks = [acc[i : i + BLOCK].mean() for i in range(0, len(acc) - BLOCK + 1, BLOCK)]
    return {
        "seeds": len(acc),
        "mean": acc.mean(),
        "std": acc.std(ddof=1),
        "standard_error": acc.std(ddof=1) / np.sqrt(len(acc)),
        "early_stops": int(early.sum()),
        "early_stop_rate": early.mean(),
        "mean_without_early_stops": acc[~early].mean(),
        "early_stopped_seeds": rows.loc[early, "seed"].tolist(),
        f"p_mean_of_{BLOCK}_at_least_target": (means >= target).mean(),
        f"consecutive_{BLOCK}_seed_means": [round(float(b), 2) for b in blocks],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", choices=["cora", "citeseer", "pubmed"])
    ap.add_argument("seeds", type=seed_range, help="A:B, the seeds A..B-1")
    ap.add_argument("--model", default="renormalization", choices=nodes.PROPAGATION_MODELS)
    ap.add_argument("--workers", default="auto")
    ap.add_argument("--env", default=None, help="Kedro config environment (default: base + local)")
    ap.add_argument("--target", type=float, default=70.0)
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args()

    project = catalog(env=args.env)
    graph = nodes.assemble_planetoid(project.load(f"gcn.raw_{args.dataset}"))
    params = dict(project.load("params:gcn.training"))

    done = pd.read_csv(args.csv) if args.csv is not None and args.csv.exists() else None
    have = set() if done is None else set(done["seed"])
    todo = [s for s in args.seeds if s not in have]
    params["seeds"] = todo
    params["workers"] = int(args.workers) if args.workers.isdigit() else args.workers
    rows = done
    if todo:
        result = nodes.train_gcn(graph, params, [args.model])
        new = pd.DataFrame(
            [{"seed": r["seed"], "test_acc": r["test_acc"], "epochs": r["epochs"]} for r in result["models"][args.model]]
        )
        rows = new if done is None else pd.concat([done, new], ignore_index=True)
        if args.csv is not None:
            args.csv.parent.mkdir(parents=True, exist_ok=True)
            rows.to_csv(args.csv, index=False)
    rows = rows[rows["seed"].isin(args.seeds)].sort_values("seed")
    summary = summarise(rows, args.target, int(params["epochs"]), np.random.default_rng(0))
    print(f"{args.dataset} {args.model}, seeds {args.seeds[0]}..{args.seeds[-1]}, {params.get('stop_on')} rule:")
    for key, value in summary.items():
        print(f"  {key}: {round(value, 4) if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
