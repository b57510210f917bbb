"""The replay buffer of an off-policy critic: a fixed-size ring of transitions."""

from __future__ import annotations

import numpy as np
import torch

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")


class ReplayBuffer:
    """The last ``capacity`` transitions; the oldest is overwritten first."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        if capacity < 1:
            raise ValueError(f"a replay buffer holds at least one transition, got capacity {capacity}")
        self.capacity, self.size, self.position = int(capacity), 0, 0
        self.data = {"obs": np.zeros((capacity, obs_dim), np.float32), "actions": np.zeros((capacity, act_dim), np.float32),
                     "rewards": np.zeros(capacity, np.float32), "next_obs": np.zeros((capacity, obs_dim), np.float32),
                     "terminated": np.zeros(capacity, np.float32)}

    def add(self, **transitions: np.ndarray) -> None:
        """Append transitions (arrays of the same length, the fields of :data:`FIELDS`)."""
        if set(transitions) != set(FIELDS):
            raise ValueError(f"a transition has the fields {FIELDS}, got {sorted(transitions)}")
        n = len(transitions["rewards"])
        index = (self.position + np.arange(n)) % self.capacity  # wraps around onto the oldest
        for k, v in transitions.items():
            self.data[k][index] = v
        self.position = int((self.position + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, rng: np.random.Generator, device="cpu") -> dict[str, torch.Tensor]:
        """``n`` transitions drawn uniformly with replacement, as tensors on ``device``."""
        if self.size == 0:
            raise ValueError("sampling from an empty replay buffer")
        index = rng.integers(self.size, size=n)
        return {k: torch.from_numpy(v[index]).to(device) for k, v in self.data.items()}

    def state_dict(self) -> dict:
        """What a checkpoint keeps: the filled part only."""
        return {"capacity": self.capacity, "size": self.size, "position": self.position,
                "data": {k: v[: self.size].copy() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"the saved buffer holds {state['capacity']} transitions, this one {self.capacity}")
        self.size, self.position = state["size"], state["position"]
        for k, v in state["data"].items():
            self.data[k][: self.size] = v
