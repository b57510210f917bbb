"""Wall time of one 5,000-step TRPO iteration on HalfCheetah: this project's
(``iclr17.common.rl``: sampling over 10 vector envs, GAE, the linear baseline, CG and the line
search) against sb3-contrib's TRPO with the same policy (100x50 tanh) and batch, with its own
defaults and with this project's CG and line-search settings, in one process on this machine; then conservative Q-Prop's environment steps per
CPU-second and where its time goes.  A benchmark, not a test (``pip install -e ".[bench]"``).

    python scripts/benchmark_trpo_vs_sb3.py [ITERATIONS] [THREADS]

ITERATIONS (default 6) timed after one warm-up iteration, the median reported; THREADS
(default 1) is ``torch.set_num_threads``.
"""

import statistics
import sys
import time

import torch

from iclr17.pipelines.qprop.nodes import train_policy_gradient

ENV = "HalfCheetah-v5"
TRPO = {"batch_size": 5000, "num_envs": 10, "discount": 0.99, "gae_lambda": 0.97, "max_kl": 0.01, "cg_iters": 10,
        "cg_damping": 1e-5, "backtracks": 15, "backtrack_ratio": 0.8}
CRITIC = {"hidden": [100, 100], "lr": 1e-3, "batch_size": 64, "replay_size": 1_000_000, "tau": 0.001,
          "updates_ratio": 1.0, "min_replay": 1000, "reward_scale": 1.0}
POLICY = {"hidden": [100, 50], "init_log_std": 0.0}


def ours(algorithm: str, iterations: int) -> list[dict]:
    run = train_policy_gradient(ENV, algorithm, 0, 5000 * (iterations + 1), POLICY, TRPO, CRITIC, "cpu", None, 10**6)
    return run["history"][1:]


def sb3_iteration_seconds(iterations: int, matched: bool) -> list[float]:
    """sb3-contrib's TRPO, the same policy and value-network sizes: the time between the starts of
    successive rollouts (one iteration); its defaults otherwise (10 value-function epochs of
    minibatch 128, 15 CG steps), or with ``matched`` this project's CG and line-search settings
    and one value-function step on the whole batch."""
    from sb3_contrib import TRPO as SB3TRPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.starts = []

        def _on_rollout_start(self) -> None:
            self.starts.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    settings = dict(batch_size=5000, cg_max_steps=10, cg_damping=1e-5, line_search_max_iter=15,
                    line_search_shrinking_factor=0.8, n_critic_updates=1) if matched else {}
    model = SB3TRPO("MlpPolicy", make_vec_env(ENV, n_envs=10, seed=0), n_steps=500, gamma=0.99, gae_lambda=0.97,
                    target_kl=0.01, device="cpu", seed=0, **settings,
                    policy_kwargs={"net_arch": {"pi": [100, 50], "vf": [100, 50]}, "activation_fn": torch.nn.Tanh})
    clock = Clock()
    model.learn(5000 * (iterations + 2), callback=clock)
    return [b - a for a, b in zip(clock.starts[1:], clock.starts[2:])]


def main(iterations: int = 6, threads: int = 1) -> None:
    torch.set_num_threads(threads)
    mine = statistics.median(h["iteration_s"] for h in ours("trpo", iterations))
    print(f"{ENV}, 5,000 steps per iteration, {threads} thread(s), median of {iterations}:")
    print(f"  iclr17 TRPO                 {mine:6.3f} s")
    for matched in (False, True):
        theirs = statistics.median(sb3_iteration_seconds(iterations, matched))
        label = "sb3-contrib TRPO, matched" if matched else "sb3-contrib TRPO defaults"
        print(f"  {label:26s}  {theirs:6.3f} s   (iclr17 / sb3-contrib = {mine / theirs:.2f})")
    q = ours("qprop_c", iterations)
    total = sum(h["iteration_s"] for h in q)
    parts = {k: sum(h.get(k, 0.0) for h in q) / total for k in ("sample_s", "critic_s", "policy_s")}
    parts["other_s"] = 1 - sum(parts.values())  # GAE, the control variate, the gradient-variance estimates
    print(f"  TR-c-Q-Prop       {statistics.median(h['iteration_s'] for h in q):6.3f} s per iteration, "
          f"{5000 * len(q) / total:.0f} environment steps per second; "
          + ", ".join(f"{k.removesuffix('_s')} {v:.0%}" for k, v in parts.items()))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
