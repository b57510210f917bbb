"""Keskar et al.'s sharpness (Metric 2.1) and the parametric plot's interpolation.

phi(x, f, eps, A) = 100 * (max_{y in C_eps} f(x + A y) - f(x)) / (1 + f(x)),
C_eps = {y : |y_i| <= eps * (|(A^+ x)_i| + 1)}, solved inexactly by ``maxiter`` iterations of
L-BFGS-B (scipy) started at y = 0.  A = None is the full space (A = I).

``f_and_grad(x) -> (f, grad)`` works on flat float64 numpy vectors, so the same routine serves a
quadratic with a closed form (tests) and a network's training loss (the pipeline).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import minimize

FAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``M @ v`` in M's precision, returned as float64.  A float32 A times a float64 vector would
    make numpy copy all of A (1.5M x 100 for F1, 1.2 GB) to float64 at every call."""
    return (M @ v.astype(M.dtype, copy=False)).astype(np.float64)


def subspace_coordinates(x: np.ndarray, A: np.ndarray | None) -> np.ndarray:
    """A^+ x (x itself for A = I); computed once per model, it serves every eps.

    For a full-column-rank A, A^+ x = (A^T A)^{-1} A^T x: a p x p solve, 0.4 s for F1's
    1.5M x 100 Gaussian A (condition number of A^T A about 1.03) where ``np.linalg.pinv``'s SVD
    takes 30 s.  An ill-conditioned A falls back to the SVD."""
    if A is None:
        return x
    gram = (A.T @ A).astype(np.float64)
    if np.linalg.cond(gram) > 1e6:
        return _matvec(np.linalg.pinv(A), x)
    return np.linalg.solve(gram, _matvec(A.T, x))


def box_bounds(x: np.ndarray, eps: float, A: np.ndarray | None = None, coords: np.ndarray | None = None) -> np.ndarray:
    """Half-widths of C_eps: eps * (|A^+ x| + 1) (A = I: eps * (|x| + 1))."""
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    coords = subspace_coordinates(x, A) if coords is None else coords
    return eps * (np.abs(coords) + 1.0)


def sharpness(f_and_grad: FAndGrad, x: np.ndarray, eps: float, A: np.ndarray | None = None,
              maxiter: int = 10, coords: np.ndarray | None = None) -> dict:
    """Return ``{"sharpness", "f0", "f_max", "y", "n_evals"}``; ``y`` (the maximiser found) lies in C_eps."""
    x = np.asarray(x, dtype=np.float64)
    half = box_bounds(x, eps, A, coords)
    f0, _ = f_and_grad(x)
    best = {"f": f0, "y": np.zeros_like(half)}
    n_evals = 0

    def negative(y: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal n_evals
        n_evals += 1
        y = np.clip(y, -half, half)  # L-BFGS-B stays in the box; the clip only guards rounding
        point = x + (y if A is None else _matvec(A, y))
        f, g = f_and_grad(point)
        if f > best["f"]:
            best.update(f=f, y=y.copy())
        g = g if A is None else _matvec(A.T, g)
        return -float(f), -np.asarray(g, dtype=np.float64)

    minimize(
        negative, np.zeros_like(half), jac=True, method="L-BFGS-B",
        bounds=list(zip(-half, half)), options={"maxiter": maxiter, "ftol": 0.0, "gtol": 0.0},
    )
    return {
        "sharpness": 100.0 * (best["f"] - f0) / (1.0 + f0),
        "f0": float(f0),
        "f_max": float(best["f"]),
        "y": best["y"],
        "n_evals": n_evals,
    }


def random_subspace(n: int, dim: int, seed: int) -> np.ndarray:
    """The n x dim matrix A of Table 4: i.i.d. standard normal entries (the paper says "random";
    the distribution is this project's assumption)."""
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def interpolate(state_a: dict, state_b: dict, alpha: float) -> dict:
    """alpha * a + (1 - alpha) * b for every floating tensor (weights and batch-norm statistics);
    integer buffers (batch counters) are taken from b.  Outside [0, 1] interpolated variances can
    turn negative: recompute the batch-norm statistics afterwards (``recompute_batchnorm``)."""
    return {
        k: alpha * state_a[k] + (1.0 - alpha) * state_b[k] if state_b[k].is_floating_point() else state_b[k]
        for k in state_b
    }


@torch.no_grad()
def recompute_batchnorm(model: torch.nn.Module, batches) -> torch.nn.Module:
    """Replace every batch-norm layer's running statistics by their exact averages over ``batches``
    (an iterable of input tensors), the usual fix after moving weights (the statistics of x_SB and
    x_LB do not belong to the weights in between).  Layers that keep no running statistics
    (batch statistics at test time too) are left as they are.  Leaves the model in eval mode."""
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return model.eval()
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for xb in batches:
        model(xb)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return model.eval()
