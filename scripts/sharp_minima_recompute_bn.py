"""Test accuracy of a sharp_minima run's SB/LB models with their running batch-norm statistics
and with the statistics re-estimated on the whole training set: separates a lagging running
average (e.g. Keras's momentum 0.99 with LB's 10 steps per epoch) from the minimum itself.

    python scripts/sharp_minima_recompute_bn.py DATA_ROOT ["NETWORK_PARAMS_AS_YAML"]

DATA_ROOT is the run's data folder (``data`` by default, or the ``data_root`` it was given); the
data and runs are read through the catalog.  The network parameters are the catalog's
(``sharp_minima.network``) unless given, e.g. for a run made with ``--params``:
"{name: f1, hidden: [512,512,512,512,512], batchnorm: true, init: glorot_uniform, bn_momentum: 0.01, bn_eps: 0.001}"
(the run must have had batch norm: the project's default F1 has none).
"""

import copy
import sys

import numpy as np
import torch
import yaml
from _project import catalog

from iclr17.pipelines.sharp_minima.model import build_network
from iclr17.pipelines.sharp_minima.nodes import evaluate, recompute_training_batchnorm


def main(root: str, network: dict | None) -> None:
    project = catalog(root)
    data, runs = project.load("sharp_minima.mnist"), project.load("sharp_minima.runs")
    network = network or project.load("params:sharp_minima.network")
    for regime in ("sb", "lb"):
        rows = []
        for run in runs[regime]:
            model = build_network(**network)
            model.load_state_dict(run["state"])
            running = evaluate(model, data["x_test"], data["y_test"])[1]
            fresh = copy.deepcopy(model)
            recompute_training_batchnorm(fresh, data["x_train"])
            recomputed = evaluate(fresh, data["x_test"], data["y_test"])[1]
            rows.append((run["epochs"], run["train_acc"], running, recomputed))
            print(f"{regime} seed {run['seed']}: epochs {rows[-1][0]} train {rows[-1][1]:.2f} "
                  f"test (running statistics) {running:.2f} test (recomputed) {recomputed:.2f}", flush=True)
        a = np.array(rows)
        print(f"{regime} mean  epochs / train / test running / test recomputed: {np.round(a.mean(0), 2)}"
              f"  sd {np.round(a.std(0, ddof=1), 2)}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    torch.set_num_threads(2)
    main(sys.argv[1], yaml.safe_load(sys.argv[2]) if len(sys.argv) == 3 else None)
