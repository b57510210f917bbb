import math

import numpy as np
import pytest

from iclr17.common.checkpoint import Checkpoints
from iclr17.common.rl.envs import TaskError
from iclr17.pipelines.qprop import nodes

TRPO = {"batch_size": 200, "num_envs": 2, "discount": 0.99, "gae_lambda": 0.97, "max_kl": 0.01, "cg_iters": 10,
        "cg_damping": 1e-5, "backtracks": 15, "backtrack_ratio": 0.8}
CRITIC = {"hidden": [16, 16], "lr": 1e-3, "batch_size": 16, "replay_size": 1000, "tau": 0.01, "updates_ratio": 0.1,
          "min_replay": 50, "reward_scale": 1.0}
POLICY = {"hidden": [8], "init_log_std": 0.0}
DDPG = {"lr": 1e-3, "batch_size": 16, "replay_size": 1000, "tau": 0.01, "noise_std": 0.1, "learning_starts": 50,
        "reward_scale": 1.0, "policy_hidden": [8], "qf_hidden": [8], "steps": None}
TRAINING = {"device": "cpu", "workers": 1, "checkpoint_every": 1}
TASK = {"env_id": "InvertedPendulum-v5", "threshold": 950.0, "steps": 600}


def _train(algorithm, checkpoints=None, seeds=(0,)):
    return nodes.train_algorithm(algorithm, "inverted_pendulum", {}, TASK, list(seeds), POLICY, TRPO, CRITIC, DDPG,
                                 TRAINING, checkpoints)


def _history(values, episodes_per_batch=10):
    return [{"average_return": v, "episodes": (i + 1) * episodes_per_batch, "env_steps": (i + 1) * 100}
            for i, v in enumerate(values)]


def test_episodes_to_threshold_and_max_return_on_a_known_history():
    h = _history([-20.0, -9.0, -6.5, -8.0, -5.0])
    assert nodes.episodes_to_threshold(h, -7.0) == 30
    assert nodes.episodes_to_threshold(h, -1.0) is None
    assert nodes.max_return(h) == -5.0
    assert nodes.max_return(_history([float("nan"), 3.0])) == 3.0


@pytest.mark.parametrize("algorithm", ["trpo", "qprop_c"])
def test_training_is_the_same_twice_and_a_stopped_run_resumes_to_the_uninterrupted_result(algorithm, tmp_path):
    from tests.conftest import stop_after_save

    a, b = _train(algorithm), _train(algorithm)
    ha, hb = a["runs"][0]["history"], b["runs"][0]["history"]
    assert len(ha) == 3 and ha[-1]["env_steps"] == 600 and ha[-1]["episodes"] > 0
    assert [h["average_return"] for h in ha] == [h["average_return"] for h in hb]
    if algorithm == "qprop_c":
        assert {"critic_loss", "eta_nonzero", "pg_variance_gae", "pg_variance_qprop", "pg_variance_ratio"} <= set(ha[-1])
        assert 0 < ha[-1]["eta_nonzero"] < 1
    with stop_after_save(2):
        _train(algorithm, Checkpoints(str(tmp_path)))
    resumed = _train(algorithm, Checkpoints(str(tmp_path)))["runs"][0]["history"]
    assert [h["average_return"] for h in resumed] == [h["average_return"] for h in ha]
    assert [h["kl"] for h in resumed] == [h["kl"] for h in ha]


def test_ddpg_trains_in_blocks_of_a_batch_on_its_own_budget(tmp_path):
    result = nodes.train_algorithm("ddpg", "inverted_pendulum", {}, TASK, [0], POLICY, TRPO, CRITIC,
                                   {**DDPG, "steps": 400}, TRAINING, Checkpoints(str(tmp_path)))
    history = result["runs"][0]["history"]
    assert [h["env_steps"] for h in history] == [200, 400] and history[-1]["episodes"] > 0
    # a larger budget continues the finished run from its checkpoint
    more = nodes.train_algorithm("ddpg", "inverted_pendulum", {}, TASK, [0], POLICY, TRPO, CRITIC,
                                 {**DDPG, "steps": 600}, TRAINING, Checkpoints(str(tmp_path)))["runs"][0]["history"]
    assert more[:2] == history and more[-1]["env_steps"] == 600


def test_bad_settings_stop_before_training():
    with pytest.raises(ValueError, match="algorithm must be one of"):
        _train("ppo")
    with pytest.raises(ValueError, match="seeds is empty"):
        _train("trpo", seeds=())
    with pytest.raises(ValueError, match=r"multiple of num_envs \(3\)"):
        nodes.train_algorithm("trpo", "x", {}, TASK, [0], POLICY, {**TRPO, "num_envs": 3}, CRITIC, DDPG, TRAINING)
    # 1,000-step episodes, 10 envs of 100 steps per batch: none would ever finish
    with pytest.raises(ValueError, match="no episode would finish; set qprop.tasks.<task>.num_envs to at most 1"):
        nodes.train_algorithm("trpo", "x", {"horizon": 1000}, TASK, [0], POLICY, {**TRPO, "batch_size": 1000, "num_envs": 10},
                              CRITIC, DDPG, TRAINING)
    # a task's own num_envs replaces trpo.num_envs
    with pytest.raises(ValueError, match=r"multiple of num_envs \(7\)"):
        nodes.train_algorithm("trpo", "x", {}, {**TASK, "num_envs": 7}, [0], POLICY, TRPO, CRITIC, DDPG, TRAINING)
    with pytest.raises(TaskError, match="no gymnasium environment 'Nope-v5'"):
        nodes.describe_task({"env_id": "Nope-v5", "threshold": 1.0, "steps": 1})


def test_the_task_description_names_its_spaces_and_versions():
    spec = nodes.describe_task(TASK)
    assert spec["obs_dim"] == 4 and spec["act_dim"] == 1 and spec["horizon"] == 1000 and spec["mujoco"]


def _result(algorithm, curves):
    return {"algorithm": algorithm, "task": "reacher", "env_id": "Reacher-v5", "threshold": -7.0,
            "runs": [{"seed": s, "history": _history(c), "seconds": 10.0, "device": "cpu"} for s, c in enumerate(curves)]}


PAPER = {"table1": {"reacher": {"qprop": {"max_return": -6.0, "episodes": 2060}, "trpo": {"max_return": -6.7, "episodes": 2840},
                                "ddpg": {"max_return": -6.6, "episodes": 1800}}}}


def test_the_summary_and_the_report_compare_episodes_to_threshold_over_seeds():
    trpo = _result("trpo", [[-20, -10, -8, -6.9], [-20, -12, -6.5, -6]])         # 40 and 30 episodes
    qprop = _result("qprop_c", [[-20, -6.8, -6, -6], [-20, -6.9, -6, -5]])       # 20 and 20
    e_t, rows, md, metrics, fig = nodes.algorithm_summary("trpo", trpo, PAPER)
    e_q = nodes.algorithm_summary("qprop_c", qprop, PAPER)[0]
    assert e_t["episodes_to_threshold"] == 35 and e_t["episodes_to_threshold_sd"] == pytest.approx(math.sqrt(50))
    assert e_t["seeds_reaching"] == 2 and e_t["max_return"] == pytest.approx(-6.45)
    by = {r["metric"]: r for r in rows}
    assert by["Reacher-v5 TRPO episodes to threshold -7"]["paper"] == 2840
    assert "Gym -v1" in by["Reacher-v5 TRPO max average return"]["note"]
    assert [p["step"] for p in metrics["seed1.average_return"]] == [100, 200, 300, 400]
    rows, md, summary, fig = nodes.report(PAPER, e_t, e_q, trpo, qprop)
    ratio = next(r for r in rows if r["metric"].endswith("TR-c-Q-Prop / TRPO"))
    assert ratio["run"] == pytest.approx(20 / 35) and ratio["paper"] == pytest.approx(2060 / 2840)
    assert summary["qprop_c_fewer_episodes_than_trpo"] is True
    # a Q-Prop seed that never gets there: not "fewer", whatever the others did
    slow = _result("qprop_c", [[-20, -6.8], [-20, -19]])
    e_s = nodes.algorithm_summary("qprop_c", slow, PAPER)[0]
    rows, _, summary, _ = nodes.report(PAPER, e_t, e_s, trpo, slow)
    assert summary["qprop_c_fewer_episodes_than_trpo"] is False
    # the seed that did not get there counts as its 20 episodes: (20 + 20) / 2 over TRPO's 35
    assert next(r for r in rows if r["metric"].endswith("TR-c-Q-Prop / TRPO"))["run"] == pytest.approx(20 / 35)
    with pytest.raises(ValueError, match="not 'trpo'"):
        nodes.algorithm_summary("trpo", qprop, PAPER)
    assert np.isfinite(e_q["steps_per_s"])
