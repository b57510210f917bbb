"""Device choice and seeding, shared by every training node."""

from __future__ import annotations

import platform
import random

import numpy as np
import torch


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present, else the CPU; ``cpu`` / ``cuda`` force one."""
    if requested not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A human label for the run record, e.g. ``cuda:NVIDIA H100`` or ``cpu:x86_64 (2 threads)``."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.machine()} ({torch.get_num_threads()} threads)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
