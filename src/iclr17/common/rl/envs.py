"""MuJoCo tasks as gymnasium vector environments, and batches of environment steps sampled from a
stochastic policy over them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering (osmesa and glfw fail on headless machines)


class TaskError(RuntimeError):
    """A task that cannot be made: an unknown id, or MuJoCo missing."""


def _gym():
    try:
        import gymnasium as gym
        import mujoco  # noqa: F401  (gymnasium's MuJoCo tasks import it lazily: fail here, clearly)
    except ImportError as err:
        raise TaskError(
            f"the MuJoCo tasks need gymnasium and mujoco ({err}); install the project's dependencies: "
            f"pip install -e .  (they pin gymnasium[mujoco])") from err
    return gym


def make_envs(env_id: str, num_envs: int, wrappers: list[Callable] = ()):
    """``num_envs`` copies of ``env_id`` in one synchronous vector environment, actions rescaled to
    [-1, 1] (rllab's ``normalize``), reset in the step an episode ends (``final_obs`` in info)."""
    gym = _gym()
    if env_id not in gym.registry:
        known = sorted(k for k in gym.registry if k.endswith("-v5"))
        raise TaskError(f"no gymnasium environment {env_id!r}; the MuJoCo v5 tasks are {known}")
    from gymnasium.wrappers import RescaleAction

    try:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                            wrappers=[lambda e: RescaleAction(e, np.float32(-1.0), np.float32(1.0)), *wrappers],
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    except (ImportError, gym.error.DependencyNotInstalled) as err:
        raise TaskError(f"{env_id} cannot start: {err}") from err


def describe_env(env_id: str) -> dict:
    """The task's spaces and time limit, and the gymnasium / MuJoCo versions that run it."""
    gym = _gym()
    import mujoco

    envs = make_envs(env_id, 1)
    try:
        spec = gym.spec(env_id)
        return {"env_id": env_id, "obs_dim": int(envs.single_observation_space.shape[0]),
                "act_dim": int(envs.single_action_space.shape[0]), "horizon": spec.max_episode_steps,
                "gymnasium": gym.__version__, "mujoco": mujoco.__version__}
    finally:
        envs.close()


@dataclass
class Batch:
    """``steps`` environment steps of every env, time first: arrays (T, N, ...)."""

    obs: np.ndarray
    actions: np.ndarray        # as sampled (unclipped): what the policy's likelihood is of
    rewards: np.ndarray
    next_obs: np.ndarray       # the true next observation (the final one where an episode ended)
    terminated: np.ndarray     # the task ended (no bootstrap)
    ends: np.ndarray           # an episode ended here (terminated or time limit)
    timesteps: np.ndarray      # the step's index within its episode
    episode_returns: list[float]
    episode_lengths: list[int]

    @property
    def size(self) -> int:
        return self.rewards.size

    def flat(self, name: str) -> np.ndarray:
        """Field ``name`` with time and env merged (env-major: each env's steps in order)."""
        a = getattr(self, name)
        return a.swapaxes(0, 1).reshape(a.shape[0] * a.shape[1], *a.shape[2:])


def reset_seeds(seed: int, iteration: int, num_envs: int) -> list[int]:
    """The per-env reset seeds of one iteration: each batch starts afresh from seeded episodes, so
    a resumed run samples what the uninterrupted one did."""
    return [int(s) for s in np.random.default_rng([seed, iteration]).integers(2**31 - 1, size=num_envs)]


def sample_batch(envs, act: Callable[[torch.Tensor], torch.Tensor], steps_per_env: int, seeds: list[int]) -> Batch:
    """Run ``act`` (observations -> actions, float32 tensors) for ``steps_per_env`` steps on each
    env from a seeded reset; the episodes still running at the end are cut (not counted)."""
    obs, _ = envs.reset(seed=seeds)
    n = envs.num_envs
    od, ad = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    out = {k: np.zeros((steps_per_env, n, d), np.float32) for k, d in (("obs", od), ("actions", ad), ("next_obs", od))}
    flags = {k: np.zeros((steps_per_env, n), bool) for k in ("terminated", "ends")}
    rewards, timesteps = np.zeros((steps_per_env, n), np.float32), np.zeros((steps_per_env, n), np.int64)
    t, running, returns, lengths = np.zeros(n, np.int64), np.zeros(n), [], []
    for step in range(steps_per_env):
        with torch.no_grad():
            action = act(torch.as_tensor(obs, dtype=torch.float32)).cpu().numpy()
        nxt, reward, terminated, truncated, info = envs.step(np.clip(action, -1.0, 1.0))
        done = terminated | truncated
        true_next = np.array(nxt, np.float32)
        if done.any():
            true_next[done] = np.stack(info["final_obs"][done])
        out["obs"][step], out["actions"][step], out["next_obs"][step] = obs, action, true_next
        rewards[step], timesteps[step] = reward, t
        flags["terminated"][step], flags["ends"][step] = terminated, done
        running += reward
        for i in np.flatnonzero(done):
            returns.append(float(running[i]))
            lengths.append(int(t[i] + 1))
        running[done], t = 0.0, np.where(done, 0, t + 1)
        obs = nxt
    return Batch(**out, rewards=rewards, **flags, timesteps=timesteps, episode_returns=returns, episode_lengths=lengths)
