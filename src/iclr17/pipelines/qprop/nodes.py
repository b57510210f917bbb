"""Nodes of the ``qprop`` pipeline (Gu et al., ICLR 2017): pure functions of catalog entries and
``params:``: the task's description, training of one algorithm over seeds (TRPO, conservative or
aggressive Q-Prop, each checkpointed; DDPG from stable-baselines3), its curves and Table 1's
episodes-to-threshold and maximum return, and the algorithms side by side."""

from __future__ import annotations

import io
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from iclr17.common.checkpoint import (
    Checkpoint,
    Checkpoints,
    random_state,
    set_random_state,
)
from iclr17.common.reporting import final_metrics, mean_sd, row, to_markdown
from iclr17.common.rl.envs import describe_env, make_envs, reset_seeds, sample_batch
from iclr17.common.rl.replay import ReplayBuffer
from iclr17.common.rl.trpo import GaussianPolicy, LinearBaseline, gae, trpo_step
from iclr17.common.runtime import (
    describe_device,
    map_jobs,
    pick_device,
    resolve_workers,
    seed_everything,
)
from iclr17.pipelines.qprop.model import (
    VARIANTS,
    Critic,
    control_variate,
    eta,
    fit_critic,
    gradient_variance,
    surrogate,
)

ALGORITHMS = {"trpo": "TRPO", "qprop_c": "TR-c-Q-Prop", "qprop_a": "TR-a-Q-Prop", "ddpg": "DDPG (stable-baselines3)"}


def describe_task(task: dict) -> dict:
    """The task's spaces, time limit and the library versions that run it (a bad id, or MuJoCo
    missing, stops the run here with one message)."""
    return {**describe_env(task["env_id"]), "threshold": task["threshold"], "steps": task["steps"]}


# ----------------------------------------------------------------------------------------------
# training: one (algorithm, task, seed)
# ----------------------------------------------------------------------------------------------


def _critic_parts(spec: dict, critic_cfg: dict, device) -> dict:
    critic = Critic(spec["obs_dim"], spec["act_dim"], critic_cfg["hidden"]).to(device)
    target = Critic(spec["obs_dim"], spec["act_dim"], critic_cfg["hidden"]).to(device)
    target.load_state_dict(critic.state_dict())
    return {"critic": critic, "target": target,
            "optimizer": torch.optim.Adam(critic.parameters(), lr=critic_cfg["lr"], fused=True),
            "buffer": ReplayBuffer(critic_cfg["replay_size"], spec["obs_dim"], spec["act_dim"])}


def _signal(algorithm: str, batch, flat: dict, parts: dict | None, policy, cfg: dict, critic_cfg: dict,
            rng: np.random.Generator, log: dict):
    """The learning signal (centred, unit scale, as rllab's ``center_adv``) and, for Q-Prop, the
    critic fitted on the replay buffer first, eta, and the per-sample gradient variances with and
    without the control variate (not for TRPO: a quarter of its iteration on HalfCheetah)."""
    adv = flat["adv"]
    etas = None
    if parts is not None:
        parts["buffer"].add(obs=batch.flat("obs"), actions=batch.flat("actions"), rewards=batch.flat("rewards"),
                            next_obs=batch.flat("next_obs"), terminated=batch.flat("terminated").astype(np.float32))
        start = time.perf_counter()
        if parts["buffer"].size >= critic_cfg["min_replay"]:
            log["critic_loss"] = fit_critic(parts["critic"], parts["target"], parts["optimizer"], parts["buffer"], policy,
                                            math.ceil(cfg["batch_size"] * critic_cfg["updates_ratio"]), critic_cfg["batch_size"],
                                            cfg["discount"], critic_cfg["tau"], critic_cfg["reward_scale"], rng)
        log["critic_s"] = time.perf_counter() - start
        # the same (just fitted) critic gives A-bar and the analytic term, so the estimate stays unbiased
        cv = control_variate(parts["critic"], policy, flat["obs"], flat["actions"])
        etas = eta(adv, cv, VARIANTS[algorithm])
        log["eta_nonzero"] = float((etas != 0).float().mean())
        plain = gradient_variance(policy, flat["obs"], flat["actions"], adv - adv.mean())
        learn = adv - etas * cv
        mixed = gradient_variance(policy, flat["obs"], flat["actions"], learn - learn.mean(), parts["critic"], etas)
        log.update(pg_variance_gae=plain["variance"], pg_variance_qprop=mixed["variance"],
                   pg_variance_ratio=mixed["variance"] / max(plain["variance"], 1e-30))
        adv = learn
    return (adv - adv.mean()) / (adv.std() + 1e-8), etas


def advantages(batch, baseline: LinearBaseline, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """GAE on the baseline's values (fitted on the previous batch), and those values: (T, N)."""
    values = baseline.predict(batch.obs, batch.timesteps)
    adv = gae(batch.rewards, values, baseline.predict(batch.next_obs, batch.timesteps + 1),
              batch.terminated.astype(np.float32), batch.ends.astype(np.float32), cfg["discount"], cfg["gae_lambda"])
    return adv, values


def _policy_step(policy: GaussianPolicy, flat: dict, signal, etas, critic, cfg: dict) -> dict:
    with torch.no_grad():
        old = policy.log_prob(flat["obs"], flat["actions"])
    return trpo_step(policy, lambda: surrogate(policy, flat["obs"], flat["actions"], old, signal, critic, etas),
                     flat["obs"], cfg["max_kl"], cfg["cg_iters"], cfg["cg_damping"], cfg["backtracks"], cfg["backtrack_ratio"])


def _history_row(it: int, batch, step: dict, policy: GaussianPolicy, history: list[dict], log: dict) -> dict:
    returns = batch.episode_returns
    return {"iteration": it + 1, "env_steps": (it + 1) * batch.size, "episodes": (history[-1]["episodes"] if history else 0) + len(returns),
            "average_return": float(np.mean(returns)) if returns else float("nan"), "kl": step["kl"],
            "step_accepted": step["accepted"], "log_std": policy.log_std.mean().item(), **log}


def train_policy_gradient(env_id: str, algorithm: str, seed: int, steps: int, policy_cfg: dict, cfg: dict,
                          critic_cfg: dict, device: str, checkpoint: Checkpoint | None, checkpoint_every: int) -> dict:
    """TRPO (``trpo``) or TRPO with Q-Prop (``qprop_c`` / ``qprop_a``) on ``env_id`` for
    ``steps`` environment steps in batches of ``batch_size``: GAE on the linear baseline, the
    learning signal, one trust-region step; each batch starts from seeded resets, and the state is
    checkpointed every ``checkpoint_every`` iterations, so a resumed run equals an uninterrupted one."""
    if algorithm not in ("trpo", *VARIANTS):
        raise ValueError(f"a policy-gradient algorithm is one of trpo, {', '.join(VARIANTS)}; got {algorithm!r}")
    dev = pick_device(device)
    gen = seed_everything(seed)
    envs = make_envs(env_id, cfg["num_envs"])
    spec = {"obs_dim": envs.single_observation_space.shape[0], "act_dim": envs.single_action_space.shape[0]}
    policy = GaussianPolicy(spec["obs_dim"], spec["act_dim"], policy_cfg["hidden"], policy_cfg["init_log_std"]).to(dev)
    baseline, rng = LinearBaseline(), np.random.default_rng([seed, 1])
    parts = _critic_parts(spec, critic_cfg, dev) if algorithm in VARIANTS else {}
    saved, history = checkpoint.load() if checkpoint is not None else None, []
    if saved is not None:
        for name, thing in {"policy": policy, "baseline": baseline, **parts}.items():
            thing.load_state_dict(saved[name])
        rng.bit_generator.state = saved["rng"]
        set_random_state(saved["random"], gen)
        history = saved["history"]
    iterations, per_env = math.ceil(steps / cfg["batch_size"]), cfg["batch_size"] // cfg["num_envs"]
    bar = tqdm(range(len(history), iterations), desc=f"{algorithm} {env_id} seed {seed}", mininterval=10.0)
    for it in bar:
        began = time.perf_counter()
        batch = sample_batch(envs, lambda o: policy.sample(o.to(dev), gen), per_env, reset_seeds(seed, it, cfg["num_envs"]))
        log = {"sample_s": time.perf_counter() - began}
        adv, values = advantages(batch, baseline, cfg)
        flat = {k: torch.from_numpy(batch.flat(k)).to(dev) for k in ("obs", "actions")}
        flat["adv"] = torch.from_numpy(adv.swapaxes(0, 1).reshape(-1)).to(dev)
        signal, etas = _signal(algorithm, batch, flat, parts or None, policy, cfg, critic_cfg, rng, log)
        start = time.perf_counter()
        step = _policy_step(policy, flat, signal, etas, parts.get("critic"), cfg)
        baseline.fit(batch.obs, batch.timesteps, adv + values)  # for the next batch, as rllab does
        log.update(policy_s=time.perf_counter() - start, iteration_s=time.perf_counter() - began)
        history.append(_history_row(it, batch, step, policy, history, log))
        bar.set_postfix(ret=f"{history[-1]['average_return']:.1f}")
        if checkpoint is not None and ((it + 1) % checkpoint_every == 0 or it + 1 == iterations):
            checkpoint.save(it + 1, {"policy": policy.state_dict(), "baseline": baseline.state_dict(), "rng": rng.bit_generator.state,
                                     "random": random_state(gen), "history": history, **{k: v.state_dict() for k, v in parts.items()}})
    envs.close()
    return {"history": history, "policy": {k: v.cpu().clone() for k, v in policy.state_dict().items()},
            "device": describe_device(dev)}


def train_ddpg(env_id: str, seed: int, steps: int, ddpg: dict, batch_size: int, device: str,
               checkpoint: Checkpoint | None, checkpoint_every: int) -> dict:
    """stable-baselines3's DDPG (Table 1's off-policy reference; not written again here) on one
    env, trained in blocks of ``batch_size`` steps so its curve lines up with the batch methods';
    rewards scaled by ``reward_scale`` for learning, returns recorded unscaled.  A resumed run
    reloads the model and its replay buffer (its episodes restart)."""
    import gymnasium as gym
    from gymnasium.wrappers import RescaleAction, TransformReward
    from stable_baselines3 import DDPG
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.noise import NormalActionNoise

    make_envs(env_id, 1).close()  # the clear error for a bad id or a missing MuJoCo
    seed_everything(seed)
    monitor = Monitor(RescaleAction(gym.make(env_id), np.float32(-1.0), np.float32(1.0)))
    env = TransformReward(monitor, lambda r: ddpg["reward_scale"] * r)
    act_dim = env.action_space.shape[0]
    kwargs = dict(learning_rate=ddpg["lr"], buffer_size=ddpg["replay_size"], learning_starts=ddpg["learning_starts"],
                  batch_size=ddpg["batch_size"], tau=ddpg["tau"], gamma=ddpg["discount"], device=str(pick_device(device)),
                  action_noise=NormalActionNoise(np.zeros(act_dim), ddpg["noise_std"] * np.ones(act_dim)),
                  policy_kwargs={"net_arch": {"pi": list(ddpg["policy_hidden"]), "qf": list(ddpg["qf_hidden"])}}, seed=seed)
    saved = checkpoint.load() if checkpoint is not None else None
    # the saved model holds its network's shape (sb3 refuses a policy_kwargs that differs in form)
    model = (DDPG.load(io.BytesIO(saved["model"]), env=env, **{k: v for k, v in kwargs.items() if k != "policy_kwargs"})
             if saved else DDPG("MlpPolicy", env, **kwargs))
    history = saved["history"] if saved else []
    if saved:
        model.load_replay_buffer(io.BytesIO(saved["replay"]))
    blocks, seen = math.ceil(steps / batch_size), 0
    for block in tqdm(range(len(history), blocks), desc=f"ddpg {env_id} seed {seed}", mininterval=10.0):
        start = time.perf_counter()
        model.learn(total_timesteps=batch_size, reset_num_timesteps=False)
        returns = monitor.get_episode_rewards()[seen:]
        seen += len(returns)
        history.append({"iteration": block + 1, "env_steps": (block + 1) * batch_size,
                        "episodes": (history[-1]["episodes"] if history else 0) + len(returns),
                        "average_return": float(np.mean(returns)) if returns else float("nan"),
                        "sample_s": time.perf_counter() - start})
        if checkpoint is not None and ((block + 1) % checkpoint_every == 0 or block + 1 == blocks):
            model_bytes, replay_bytes = io.BytesIO(), io.BytesIO()
            model.save(model_bytes)
            model.save_replay_buffer(replay_bytes)
            checkpoint.save(block + 1, {"model": model_bytes.getvalue(), "replay": replay_bytes.getvalue(), "history": history})
    env.close()
    return {"history": history, "policy": None, "device": str(model.device)}


def _train_one(algorithm: str, env_id: str, seed: int, steps: int, policy_cfg: dict, trpo: dict, critic: dict,
               ddpg: dict, device: str, checkpoint: Checkpoint | None, checkpoint_every: int) -> dict:
    start, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # these small networks run no faster on two threads, and a second job shares the CPU
    try:
        if algorithm == "ddpg":
            run = train_ddpg(env_id, seed, steps, {**ddpg, "discount": trpo["discount"]}, trpo["batch_size"], device,
                             checkpoint, checkpoint_every)
        else:
            run = train_policy_gradient(env_id, algorithm, seed, steps, policy_cfg, trpo, critic, device, checkpoint,
                                        checkpoint_every)
    finally:
        torch.set_num_threads(threads)
    return {**run, "seed": seed, "seconds": time.perf_counter() - start}


def train_algorithm(algorithm: str, task_name: str, spec: dict, task: dict, seeds: list[int], policy: dict, trpo: dict,
                    critic: dict, ddpg: dict, training: dict, checkpoints: Checkpoints | None = None) -> dict:
    """One algorithm on one task, each seed its own run (in parallel single-threaded processes on
    the CPU; ``training.workers``), each resumable from its checkpoint."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
    if not seeds:
        raise ValueError("qprop.seeds is empty: give at least one seed")
    # a task may run fewer envs, so that each samples at least one whole episode per batch
    trpo = {**trpo, "num_envs": task.get("num_envs") or trpo["num_envs"]}
    if trpo["batch_size"] % trpo["num_envs"]:
        raise ValueError(f"trpo.batch_size ({trpo['batch_size']}) must be a multiple of num_envs ({trpo['num_envs']})")
    if spec.get("horizon") and trpo["batch_size"] // trpo["num_envs"] < spec["horizon"]:
        raise ValueError(f"{task['env_id']}'s episodes last up to {spec['horizon']} steps, but each of {trpo['num_envs']} envs "
                         f"samples {trpo['batch_size'] // trpo['num_envs']} per batch (each batch starts afresh): no episode "
                         f"would finish; set qprop.tasks.<task>.num_envs to at most {trpo['batch_size'] // spec['horizon']}")
    dev = pick_device(training["device"])
    steps = ddpg["steps"] or task["steps"] if algorithm == "ddpg" else task["steps"]
    # a budget is not part of a run's identity: a larger one continues the finished run
    settings = {"ddpg": {k: v for k, v in ddpg.items() if k != "steps"}} if algorithm == "ddpg" else {"policy": policy, "trpo": trpo,
                                                         **({"critic": critic} if algorithm in VARIANTS else {})}
    jobs = [(algorithm, task["env_id"], s, steps, policy, trpo, critic, ddpg, training["device"],
             checkpoints.run(f"{task_name}_{algorithm}_seed{s}", {"env_id": task["env_id"], "algorithm": algorithm, "seed": s,
                                                                    "batch_size": trpo["batch_size"], **settings})
             if checkpoints is not None else None, training["checkpoint_every"]) for s in seeds]
    workers = resolve_workers(training["workers"], len(jobs), dev)
    runs = map_jobs(_train_one, jobs, workers, desc=f"{ALGORITHMS[algorithm]} on {task['env_id']}, {len(jobs)} seeds")
    return {"algorithm": algorithm, "task": task_name, "env_id": task["env_id"], "spec": spec, "threshold": task["threshold"],
            "seeds": list(seeds), "runs": runs, "workers": workers}


# ----------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------


def episodes_to_threshold(history: list[dict], threshold: float) -> int | None:
    """The episodes sampled up to the first batch whose average return reaches ``threshold``
    (Table 1's "episodes"), or None if none does."""
    return next((h["episodes"] for h in history if h["average_return"] >= threshold), None)


def max_return(history: list[dict]) -> float:
    """The best batch average return within the budget (Table 1's "MaxReturn")."""
    values = [h["average_return"] for h in history if not math.isnan(h["average_return"])]
    return max(values) if values else float("nan")


def evaluate(result: dict) -> dict:
    """Per seed and over seeds: episodes to the threshold (and how many seeds reached it), the
    maximum average return, the final return, wall time, steps per CPU-second, where time went."""
    threshold, per_seed = result["threshold"], []
    for run in result["runs"]:
        h = run["history"]
        per_seed.append({"seed": run["seed"], "episodes_to_threshold": episodes_to_threshold(h, threshold),
                         "max_return": max_return(h), "final_return": h[-1]["average_return"], "env_steps": h[-1]["env_steps"],
                         "episodes": h[-1]["episodes"], "seconds": run["seconds"],
                         "steps_per_s": h[-1]["env_steps"] / run["seconds"],
                         **{f"{k}_total": float(sum(x.get(k, 0.0) for x in h)) for k in ("sample_s", "critic_s", "policy_s")},
                         **({"pg_variance_ratio_median": float(np.median([x["pg_variance_ratio"] for x in h if "pg_variance_ratio" in x]))}
                            if any("pg_variance_ratio" in x for x in h) else {})})
    reached = [s["episodes_to_threshold"] for s in per_seed if s["episodes_to_threshold"] is not None]
    out = {"algorithm": result["algorithm"], "task": result["task"], "env_id": result["env_id"], "threshold": threshold,
           "per_seed": per_seed, "seeds_reaching": len(reached), "device": result["runs"][0]["device"]}
    for key in ("max_return", "final_return", "seconds", "steps_per_s"):
        out[key], out[f"{key}_sd"] = mean_sd([s[key] for s in per_seed])
    out["episodes_to_threshold"], out["episodes_to_threshold_sd"] = mean_sd(reached)
    return out


# Table 1's columns: TR-c-Q-Prop, TRPO, DDPG (the aggressive variant has none)
PAPER_COLUMNS = {"qprop_c": "qprop", "trpo": "trpo", "ddpg": "ddpg"}


def _paper_entry(paper: dict, task: str, algorithm: str) -> dict:
    return paper["table1"].get(task, {}).get(PAPER_COLUMNS.get(algorithm, ""), {})


def _rows(evaluation: dict, paper: dict) -> list[dict]:
    algorithm, task = evaluation["algorithm"], evaluation["task"]
    label = f"{evaluation['env_id']} {ALGORITHMS[algorithm]}"
    ref = _paper_entry(paper, task, algorithm)
    seeds = len(evaluation["per_seed"])
    note = (f"{seeds} seeds; {evaluation['seeds_reaching']} of {seeds} reached {evaluation['threshold']:g}; "
            f"{evaluation['per_seed'][0]['env_steps']} steps each; gymnasium {evaluation['env_id']}, the paper's Gym -v1 on "
            f"MuJoCo 1.31 (returns not strictly comparable)")
    if ref.get("note"):
        note += f"; paper: {ref['note']}"
    return [row(f"{label} episodes to threshold {evaluation['threshold']:g}", ref.get("episodes"), evaluation["episodes_to_threshold"],
                "episodes", note + "; mean over the seeds that reached it", evaluation["episodes_to_threshold_sd"]),
            row(f"{label} max average return", ref.get("max_return"), evaluation["max_return"], "return",
                note + "; the paper's within 30k episodes", evaluation["max_return_sd"]),
            row(f"{label} final average return", None, evaluation["final_return"], "return", note, evaluation["final_return_sd"])]


def history_metrics(result: dict) -> dict:
    """Per-iteration curves, one per seed (``seed<k>.<name>``, step = environment steps), so the
    MLflow UI compares seeds and algorithms."""
    keys = ("average_return", "episodes", "kl", "log_std", "critic_loss", "eta_nonzero", "pg_variance_gae",
            "pg_variance_qprop", "pg_variance_ratio", "sample_s", "critic_s", "policy_s", "iteration_s")
    out = {}
    for run in result["runs"]:
        for k in keys:
            points = [{"value": float(h[k]), "step": int(h["env_steps"])} for h in run["history"]
                      if k in h and not math.isnan(float(h[k]))]
            if points:
                out[f"seed{run['seed']}.{k}"] = points
    return out


def learning_curves(results: list[dict], threshold: float | None = None) -> plt.Figure:
    """Average return against episodes and against environment steps, the mean over seeds with
    its min-max band, one line per algorithm."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for result in results:
        length = min(len(r["history"]) for r in result["runs"])
        returns = np.array([[h["average_return"] for h in r["history"][:length]] for r in result["runs"]])
        x = {"episodes": np.mean([[h["episodes"] for h in r["history"][:length]] for r in result["runs"]], 0),
             "environment steps": np.array([h["env_steps"] for h in result["runs"][0]["history"][:length]])}
        for ax, (name, xs) in zip(axes, x.items()):
            line, = ax.plot(xs, np.nanmean(returns, 0), label=f"{ALGORITHMS[result['algorithm']]} ({len(result['runs'])} seeds)")
            ax.fill_between(xs, np.nanmin(returns, 0), np.nanmax(returns, 0), color=line.get_color(), alpha=0.2)
            ax.set(xlabel=name, ylabel="average return", title=f"{results[0]['env_id']}: average return against {name}")
    for ax in axes:
        if threshold is not None:
            ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"Table 1 threshold {threshold:g}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def algorithm_summary(algorithm: str, result: dict, paper: dict) -> tuple[dict, list[dict], str, dict, plt.Figure]:
    """One algorithm's evaluation, paper_vs_run rows, metrics (final and per iteration) and curves."""
    if result["algorithm"] != algorithm:
        raise ValueError(f"the result is of {result['algorithm']!r}, not {algorithm!r}")
    evaluation = evaluate(result)
    rows = _rows(evaluation, paper)
    finals = {k: evaluation[k] for k in ("max_return", "final_return", "seconds", "steps_per_s")}
    finals["seeds_reaching"] = evaluation["seeds_reaching"]
    if evaluation["episodes_to_threshold"] is not None:
        finals["episodes_to_threshold"] = evaluation["episodes_to_threshold"]
    md = to_markdown(rows, f"qprop ({result['env_id']}, {ALGORITHMS[algorithm]}): paper vs this run")
    return evaluation, rows, md, {**history_metrics(result), **final_metrics(finals)}, learning_curves([result], result["threshold"])


def censored_episodes(evaluation: dict) -> float:
    """The mean episodes to the threshold over all seeds, a seed that never reached it counted as
    the episodes of its whole budget (so the mean is a lower bound where one did not)."""
    return float(np.mean([s["episodes_to_threshold"] if s["episodes_to_threshold"] is not None else s["episodes"]
                          for s in evaluation["per_seed"]]))


def report(paper: dict, *evaluations_and_results) -> tuple[list[dict], str, dict, plt.Figure]:
    """Every algorithm on the task side by side, and the paper's claim checked: conservative
    Q-Prop reaches the threshold in fewer episodes than TRPO (Table 1)."""
    half = len(evaluations_and_results) // 2
    evaluations, results = evaluations_and_results[:half], evaluations_and_results[half:]
    rows = [r for e in evaluations for r in _rows(e, paper)]
    by = {e["algorithm"]: e for e in evaluations}
    summary = {"task": evaluations[0]["task"], "env_id": evaluations[0]["env_id"], "threshold": evaluations[0]["threshold"],
               "algorithms": {a: {k: e[k] for k in ("episodes_to_threshold", "seeds_reaching", "max_return", "steps_per_s")}
                              for a, e in by.items()}}
    if "trpo" in by and "qprop_c" in by:
        t, q = by["trpo"], by["qprop_c"]
        seeds = len(q["per_seed"])
        fewer = (q["episodes_to_threshold"] is not None and q["seeds_reaching"] == seeds
                 and (t["episodes_to_threshold"] is None or q["episodes_to_threshold"] < t["episodes_to_threshold"]))
        ref = paper["table1"].get(evaluations[0]["task"], {})
        paper_ratio = (ref["qprop"]["episodes"] / ref["trpo"]["episodes"]
                       if ref.get("qprop", {}).get("episodes") and ref.get("trpo", {}).get("episodes") else None)
        ratio = censored_episodes(q) / censored_episodes(t)
        rows.append(row(f"{evaluations[0]['env_id']} episodes to threshold, TR-c-Q-Prop / TRPO", paper_ratio, ratio, "ratio",
                        f"< 1: Q-Prop faster; Q-Prop {q['seeds_reaching']}/{seeds} seeds and TRPO "
                        f"{t['seeds_reaching']}/{len(t['per_seed'])} reached the threshold; a seed that did not "
                        f"counts as its whole budget's episodes"))
        summary["qprop_c_fewer_episodes_than_trpo"] = bool(fewer)
    md = to_markdown(rows, f"qprop ({evaluations[0]['env_id']}): the algorithms side by side")
    return rows, md, summary, learning_curves(list(results), evaluations[0]["threshold"])
