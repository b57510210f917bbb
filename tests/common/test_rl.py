import numpy as np
import pytest
import torch

from iclr17.common.rl import envs as rl_envs
from iclr17.common.rl.envs import TaskError, make_envs, reset_seeds, sample_batch
from iclr17.common.rl.replay import ReplayBuffer
from iclr17.common.rl.trpo import (
    GaussianPolicy,
    LinearBaseline,
    conjugate_gradient,
    gae,
    gaussian_kl,
    trpo_step,
)


def test_gae_on_a_hand_computed_four_step_trajectory():
    # one episode of 3 steps that terminates, then the first step of the next, cut by the batch end
    r = np.array([1.0, 0.0, 2.0, 1.0])[:, None]
    v = np.array([0.5, 1.0, 1.5, 0.2])[:, None]
    nv = np.array([1.0, 1.5, 9.0, 0.4])[:, None]   # V(s_t+1); 9.0 is ignored: the task ended there
    term = np.array([0, 0, 1, 0.0])[:, None]
    ends = np.array([0, 0, 1, 0.0])[:, None]
    g, lam = 0.5, 0.5
    d = [1 + 0.5 * 1.0 - 0.5, 0 + 0.5 * 1.5 - 1.0, 2 - 1.5, 1 + 0.5 * 0.4 - 0.2]  # 1.0, -0.25, 0.5, 1.0
    expected = [d[0] + 0.25 * (d[1] + 0.25 * d[2]), d[1] + 0.25 * d[2], d[2], d[3]]
    np.testing.assert_allclose(gae(r, v, nv, term, ends, g, lam)[:, 0], expected)
    # lambda = 1, gamma = 1, zero values: the undiscounted reward-to-go within each episode
    np.testing.assert_allclose(gae(r, 0 * v, 0 * nv, term, ends, 1.0, 1.0)[:, 0], [3, 2, 2, 1])


def test_conjugate_gradient_solves_a_small_spd_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    a = torch.tensor(m @ m.T + 6 * np.eye(6))
    b = torch.tensor(rng.normal(size=6))
    x = conjugate_gradient(lambda v: a @ v, b, iters=6)
    np.testing.assert_allclose((a @ x).numpy(), b.numpy(), atol=1e-8)


def test_the_trpo_step_improves_the_surrogate_within_the_kl_bound():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, (8,))
    obs, actions = torch.randn(256, 3), torch.randn(256, 2)
    adv = actions[:, 0] * 3.0  # rewards the first action dimension: a large step wants to go far
    with torch.no_grad():
        old_mean, old_log_std, old_lp = policy.mean(obs).clone(), policy.log_std.clone(), policy.log_prob(obs, actions)

    def loss():
        return -((policy.log_prob(obs, actions) - old_lp).exp() * adv).mean()

    for max_kl in (0.01, 0.001):
        before = loss().item()
        info = trpo_step(policy, loss, obs, max_kl)
        kl = gaussian_kl(old_mean, old_log_std, policy.mean(obs), policy.log_std).mean().item()
        assert info["accepted"] and info["loss_after"] < before
        assert kl <= max_kl + 1e-9 and kl > max_kl / 10  # the bound binds: the step is not timid either
        with torch.no_grad():
            old_mean, old_log_std, old_lp = policy.mean(obs).clone(), policy.log_std.clone(), policy.log_prob(obs, actions)


def test_a_step_that_cannot_improve_is_not_taken():
    policy = GaussianPolicy(3, 2, (8,))
    obs = torch.randn(16, 3)
    before = [p.detach().clone() for p in policy.parameters()]
    info = trpo_step(policy, lambda: (policy.mean(obs) * 0).sum() + policy.log_std.sum() * 0, obs, 0.01)
    assert not info["accepted"]
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_the_linear_baseline_fits_a_function_of_its_features_and_predicts_zero_unfitted():
    rng = np.random.default_rng(0)
    obs, t = rng.normal(size=(200, 3)).astype(np.float32), rng.integers(0, 50, 200)
    target = 2 * obs[:, 0] - obs[:, 1] ** 2 + t / 100.0
    base = LinearBaseline()
    assert np.all(base.predict(obs, t) == 0)
    base.fit(obs, t, target)
    np.testing.assert_allclose(base.predict(obs, t), target, atol=1e-3)


def test_the_replay_buffer_wraps_around_onto_its_oldest_transitions():
    buf = ReplayBuffer(5, 1, 1)

    def add(values):
        v = np.asarray(values, np.float32)
        buf.add(obs=v[:, None], actions=v[:, None], rewards=v, next_obs=v[:, None], terminated=0 * v)

    add([0, 1, 2])
    assert buf.size == 3 and buf.position == 3
    add([3, 4, 5, 6])
    assert buf.size == 5 and buf.position == 2
    assert buf.data["rewards"].tolist() == [5, 6, 2, 3, 4]
    sample = buf.sample(100, np.random.default_rng(0))
    assert set(sample["rewards"].tolist()) <= {2, 3, 4, 5, 6} and sample["obs"].shape == (100, 1)
    copy = ReplayBuffer(5, 1, 1)
    copy.load_state_dict(buf.state_dict())
    assert copy.data["rewards"].tolist() == buf.data["rewards"].tolist() and copy.position == 2
    with pytest.raises(ValueError, match="fields"):
        buf.add(obs=np.zeros((1, 1)))
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3, 1, 1).sample(1, np.random.default_rng(0))


def test_a_bad_environment_name_or_a_missing_mujoco_is_one_clear_error(monkeypatch):
    with pytest.raises(TaskError, match="no gymnasium environment 'Reacher-v99'.*Reacher-v5"):
        make_envs("Reacher-v99", 1)
    import builtins

    real_import = builtins.__import__

    def no_mujoco(name, *args, **kwargs):
        if name == "mujoco":
            raise ImportError("No module named 'mujoco'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mujoco)
    with pytest.raises(TaskError, match="need gymnasium and mujoco.*pip install -e"):
        rl_envs.make_envs("Reacher-v5", 1)


def test_a_batch_is_seeded_and_counts_only_finished_episodes():
    envs = make_envs("Reacher-v5", 2)
    policy = GaussianPolicy(10, 2, (8,))
    seeds = reset_seeds(0, 3, 2)

    def run():
        gen = torch.Generator().manual_seed(0)
        return sample_batch(envs, lambda o: policy.sample(o, gen), 120, seeds)

    a, b = run(), run()
    envs.close()
    assert a.obs.shape == (120, 2, 10) and a.actions.shape == (120, 2, 2) and a.size == 240
    np.testing.assert_array_equal(a.rewards, b.rewards)
    # Reacher's episodes are 50 steps: 2 finished per env, the third cut by the batch end
    assert len(a.episode_returns) == 4 and a.episode_lengths == [50] * 4
    assert a.ends.sum() == 4 and not a.terminated.any() and a.timesteps[50, 0] == 0 and a.timesteps[49, 0] == 49
    assert a.flat("rewards").shape == (240,) and a.flat("rewards")[120] == a.rewards[0, 1]
    assert reset_seeds(0, 3, 2) != reset_seeds(0, 4, 2)
