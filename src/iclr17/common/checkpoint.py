"""Resumable training, shared by every long training loop.

A loop saves its whole state (weights, optimiser, schedule, random state, history) at the end of
each epoch into a :class:`Checkpoint`; the next run with the same parameters loads it and goes on
from the last saved epoch, as Lightning's ``ckpt_path="last"`` does, so the finished result equals
an uninterrupted run's.  Checkpoints live in a folder that the catalog names
(:class:`CheckpointsDataset`, ``<pipeline>.checkpoints``); ``--params resume=false`` starts afresh.

A checkpoint records the *identity* of the run that wrote it (the parameters that shape training);
loading it under another identity is refused with the keys that differ.  Files are written to a
temporary name and renamed, so a run killed while saving leaves the previous epoch's checkpoint.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from kedro.io import AbstractDataset

from iclr17.common.config import ParameterError, flatten
from iclr17.common.runtime import owned

log = logging.getLogger(__name__)

FORMAT = 1  # bumped when a checkpoint's layout changes; an older file is refused, not misread


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: truncated, corrupt or of another format."""


class CheckpointMismatch(ParameterError):
    """A checkpoint saved by a run with other parameters."""


def differing_keys(saved: Mapping, wanted: Mapping) -> list[str]:
    """The dotted keys whose values differ between two identities (either side may lack one)."""
    a, b = flatten(saved), flatten(wanted)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<unset>") != b.get(k, "<unset>"))


def random_state(*generators: torch.Generator) -> dict:
    """Python's, numpy's and torch's global random states (CUDA's where present), and those of
    ``generators``: what a loop needs to draw the same numbers after a resume."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: Mapping, *generators: torch.Generator) -> None:
    """The inverse of :func:`random_state` (the same generators, in the same order)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if len(generators) != len(state["generators"]):
        raise CheckpointError(f"the checkpoint holds {len(state['generators'])} generator states, not {len(generators)}")
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved)


@dataclass(frozen=True)
class Checkpoint:
    """One training run's checkpoint file (and its kept epochs, ``<name>.epoch<N>.pt``).
    Picklable: a worker process gets its own."""

    path: str
    identity: Mapping
    resume: bool = True

    def _read(self, path: Path) -> dict:
        try:
            with path.open("rb") as f:
                blob = torch.load(f, map_location="cpu", weights_only=False)
        except (EOFError, pickle.UnpicklingError, RuntimeError, ValueError, OSError) as err:
            raise CheckpointError(
                f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: {err}); delete it to train "
                f"from scratch, or run with --params resume=false") from err
        if not isinstance(blob, dict) or blob.get("format") != FORMAT or "state" not in blob:
            raise CheckpointError(f"checkpoint {path} is not a format-{FORMAT} iclr17 checkpoint; delete it to "
                                  f"train from scratch, or run with --params resume=false")
        differ = differing_keys(blob["identity"], self.identity)
        if differ:
            shown = ", ".join(f"{k} (saved {flatten(blob['identity']).get(k, '<unset>')!r}, now "
                              f"{flatten(self.identity).get(k, '<unset>')!r})" for k in differ[:8])
            raise CheckpointMismatch(
                f"checkpoint {path} (after epoch {blob['epoch']}) was saved by a run with other parameters: {shown}"
                f"{' …' if len(differ) > 8 else ''}; run with its parameters, delete it, or --params resume=false")
        return blob

    def exists(self) -> bool:
        """Whether :meth:`load` would return a state (a file, and resuming on)."""
        return self.resume and Path(self.path).exists()

    def _load(self, path: Path) -> dict | None:
        if not self.resume or not path.exists():
            return None
        blob = self._read(path)
        log.info("loading %s (the state after epoch %d)", path, blob["epoch"])
        return {**blob["state"], "epoch": blob["epoch"]}

    def load(self) -> dict | None:
        """The saved state (its ``epoch`` included), or None: no file yet, or resuming is off."""
        return self._load(Path(self.path))

    def kept_path(self, epoch: int) -> Path:
        path = Path(self.path)
        return path.with_name(f"{path.stem}.epoch{epoch}{path.suffix}")

    def load_kept(self, epoch: int) -> dict | None:
        """The state kept at the end of ``epoch`` (``save(..., keep=True)``), or None."""
        return self._load(self.kept_path(epoch))

    def save(self, epoch: int, state: Mapping, keep: bool = False) -> None:
        """Write ``state`` as the state after ``epoch`` (atomically); ``keep`` also keeps this
        epoch's copy, which later saves do not overwrite (a branch point other runs start from)."""
        blob = {"format": FORMAT, "epoch": int(epoch), "identity": dict(self.identity), "state": owned(dict(state), "cpu")}
        targets = [Path(self.path)] + ([self.kept_path(epoch)] if keep else [])
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                torch.save(blob, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)  # a reader sees the old file or the new one, never half of one

    def with_identity(self, identity: Mapping) -> Checkpoint:
        return Checkpoint(self.path, identity, self.resume)


@dataclass(frozen=True)
class Checkpoints:
    """A folder of checkpoints, as the catalog hands it to a training node."""

    folder: str
    resume: bool = True

    def run(self, name: str, identity: Mapping) -> Checkpoint:
        """The checkpoint of the run ``name`` (a file in the folder) with this identity."""
        if not name or "/" in name:
            raise ValueError(f"a checkpoint name is a file name, got {name!r}")
        return Checkpoint(str(Path(self.folder) / f"{name}.pt"), dict(identity), self.resume)


class CheckpointsDataset(AbstractDataset):
    """Catalog entry of a pipeline's checkpoint folder: loads a :class:`Checkpoints` handle; the
    training node saves through it at the end of each epoch (so a run killed mid-way keeps its last
    finished epoch).  ``resume`` (default true; ``${runtime_params:resume,true}`` in the catalog)
    false makes every load return None: training starts afresh and overwrites."""

    def __init__(self, folder: str, resume: bool | str = True, metadata: dict | None = None):
        if isinstance(resume, str):
            if resume.lower() not in {"true", "false"}:
                raise ParameterError(f"resume must be true or false, got {resume!r}")
            resume = resume.lower() == "true"
        self._folder, self._resume, self.metadata = str(folder), bool(resume), metadata

    def load(self) -> Checkpoints:
        return Checkpoints(self._folder, self._resume)

    def save(self, data) -> None:
        raise NotImplementedError("a checkpoint folder is written by the training node through Checkpoints")

    def _exists(self) -> bool:
        return True  # a folder not yet made holds no checkpoints; loading it is fine

    def _describe(self) -> dict:
        return {"folder": self._folder, "resume": self._resume}
