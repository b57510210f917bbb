"""Device choice and seeding, shared by every training node."""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from multiprocessing import get_context

import numpy as np
import torch
from tqdm.auto import tqdm


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present, else the CPU; ``cpu`` / ``cuda`` force one."""
    if requested not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def cpu_has_bfloat16() -> bool:
    """Whether oneDNN has bfloat16 kernels on this CPU (AVX-512 BF16 or AMX): what ``medium``
    matmul precision needs to change anything on the CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def describe_device(device: torch.device, matmul_precision: str | None = None) -> str:
    """A human label for the run record, e.g. ``cuda:NVIDIA H100`` or ``cpu:x86_64 AVX2 (2 threads)``
    (the CPU's instruction set as torch's kernels use it: runs on AVX2 and AVX-512 CPUs differ in
    speed and in their rounding); with a ``matmul_precision`` other than torch's default
    (``highest``), it is named too, and on a CPU without bfloat16 kernels, that ``medium`` is plain
    float32 there."""
    if device.type == "cuda":
        label = f"cuda:{torch.cuda.get_device_name(device)}"
    else:
        threads = torch.get_num_threads()
        label = (f"cpu:{platform.machine()} {torch.backends.cpu.get_cpu_capability()} "
                 f"({threads} thread{'' if threads == 1 else 's'})")
    if matmul_precision not in (None, "highest"):
        label += f", float32 matmuls at {matmul_precision} precision"
        if device.type == "cpu" and matmul_precision == "medium" and not cpu_has_bfloat16():
            label += " (plain float32 here: no bfloat16 kernels on this CPU)"
        elif device.type == "cpu":
            error = matmul_relative_error(matmul_precision)
            if error > FLOAT32_PRODUCT_ERROR:
                label += f" (bfloat16-accurate products on this CPU: {error:.0e} of float64)"
    return label


MATMUL_PRECISIONS = ("highest", "high", "medium")


@contextmanager
def float32_matmul_precision(precision: str) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` inside the block, the previous setting
    restored after it.  ``highest`` is torch's default (float32 throughout).  ``medium`` lets
    oneDNN use its bfloat16-based kernels on a CPU with AVX-512 BF16 (on CUDA: TF32 / bfloat16);
    on this project's build machine its products of the small LM's shapes stayed within 1e-6 of
    float64 (relative; ``highest``: 4e-7) and ran 1.9-2.8x faster, a training step of the small LM
    1.1-1.6x; on a CPU without bfloat16 kernels (AVX2 only) it runs the same float32 kernels as
    ``highest``; on one with AMX its products are bfloat16-accurate (about 2e-3 of float64;
    ``matmul_relative_error``), and ``describe_device`` says so (docs/results.md, tying section)."""
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {list(MATMUL_PRECISIONS)}, got {precision!r}")
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


# Above this relative error a product is not float32-accurate (float32 products of these shapes:
# 4e-7 to 7e-7 here; bfloat16-accurate ones: about 2e-3).
FLOAT32_PRODUCT_ERROR = 1e-5


def matmul_relative_error(precision: str) -> float:
    """How far one float32 product (64 x 256 times 256 x 128, fixed inputs) at ``precision`` is from
    the float64 product on this machine: the largest error over the largest entry.  What a
    precision means depends on the CPU: ``medium`` gave 8e-7 on an AVX-512 BF16 one, 4e-7 (plain
    float32) on an AVX2 one and 2e-3 (bfloat16) on one with AMX.  Takes about a millisecond."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 256, generator=generator)
    b = torch.randn(256, 128, generator=generator)
    exact = a.double() @ b.double()
    with float32_matmul_precision(precision):
        product = a @ b
    return ((product.double() - exact).abs().max() / exact.abs().max()).item()


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_workers(workers: int | str, n_jobs: int, device: torch.device) -> int:
    """``auto``: one worker process per CPU core (at most one per job) on the CPU, 1 on CUDA."""
    if workers == "auto":
        return 1 if device.type == "cuda" else max(1, min(n_jobs, os.cpu_count() or 1))
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be 'auto' or a positive integer, got {workers!r}")
    return min(workers, max(n_jobs, 1))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphaned seed workers)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown still stops them
        pass


def _single_threaded() -> None:
    from iclr17 import log_filters

    _die_with_parent()
    torch.set_num_threads(1)
    log_filters.install()  # a worker prints its warnings itself, past the parent's logging


def owned(obj, device: str | torch.device | None = None):
    """``obj`` with every numpy array and tensor replaced by a copy that owns its memory (tensors
    detached, and moved to ``device`` if given), containers rebuilt.  A worker returns this: torch's
    pickler moves a returned tensor's storage into shared memory, which leaves a numpy *view* of that
    tensor pointing at freed memory (garbage in the parent); a checkpoint saves it on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device or obj.device, copy=True)
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, Mapping):
        return {k: owned(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(owned(v, device) for v in obj)
    return obj


def _call_owned(func: Callable, *args):
    return owned(func(*args))


def map_jobs(func: Callable, jobs: list[tuple], workers: int, desc: str | None = None) -> list:
    """``[func(*job) for job in jobs]``, in ``workers`` spawned single-threaded processes when
    ``workers > 1`` (small PyTorch models run as fast on one thread as on two, so two seeds on two
    cores take the time of one); a worker returns copies (:func:`owned`), never views, and dies
    with this process.  ``func`` must be importable (a module-level function).  With
    ``desc``, a progress bar counts finished jobs."""
    bar = partial(tqdm, total=len(jobs), desc=desc, mininterval=2.0, disable=desc is None)
    if workers <= 1 or len(jobs) <= 1:
        return list(bar(func(*job) for job in jobs))
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_single_threaded)
    try:
        results = list(bar(pool.map(partial(_call_owned, func), *zip(*jobs))))
    except (KeyboardInterrupt, SystemExit):  # a stop (Ctrl-C, SIGTERM): no waiting on the workers
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results
