import numpy as np
import pytest
import torch

from iclr17.common.rl.replay import ReplayBuffer
from iclr17.common.rl.trpo import GaussianPolicy
from iclr17.pipelines.qprop.model import (
    Critic,
    control_variate,
    eta,
    fit_critic,
    gradient_variance,
    surrogate,
)


def _policy_and_critic(seed=0):
    torch.manual_seed(seed)
    policy = GaussianPolicy(3, 2, (8,), init_log_std=-0.5)
    with torch.no_grad():
        policy.mean[-1].weight.mul_(100)  # means away from zero: the critic's slope matters
    return policy, Critic(3, 2, (16, 16))


def test_the_control_variate_leaves_the_gradient_unbiased_on_a_linear_gaussian_toy():
    # E_a[grad log pi(a|s) A-bar(s, a)] = grad_theta Q(s, mu_theta(s)) for a Gaussian policy
    # (the analytic correction of eq. 10): a Monte-Carlo estimate of the left side matches it
    policy, critic = _policy_and_critic()
    obs = torch.randn(4, 3).repeat_interleave(100_000, 0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        actions = policy.sample(obs, gen)
    cv = control_variate(critic, policy, obs, actions)
    params = list(policy.mean.parameters())
    mc = torch.autograd.grad((policy.log_prob(obs, actions) * cv).mean(), params)
    analytic = torch.autograd.grad(critic(obs, policy.mean(obs)).mean(), params)
    mc, analytic = torch.cat([g.flatten() for g in mc]), torch.cat([g.flatten() for g in analytic])
    assert analytic.norm() > 1e-3
    assert (mc - analytic).norm() / analytic.norm() < 0.05
    # and it is the linearisation: zero at the mean, linear in the action's offset
    mean = policy.mean(obs[:2]).detach()
    np.testing.assert_allclose(control_variate(critic, policy, obs[:2], mean).numpy(), 0.0, atol=1e-7)
    doubled = control_variate(critic, policy, obs[:2], mean + 2 * (actions[:2] - mean))
    np.testing.assert_allclose(doubled.numpy(), 2 * cv[:2].numpy(), rtol=1e-5)


def test_eta_of_each_variant_follows_the_sign_of_the_covariance():
    adv = torch.tensor([1.0, -2.0, 3.0, 0.5])
    cv = torch.tensor([2.0, -1.0, -1.0, 0.0])  # products: +2, +2, -3, 0
    assert eta(adv, cv, "conservative").tolist() == [1.0, 1.0, 0.0, 0.0]
    assert eta(adv, cv, "aggressive").tolist() == [1.0, 1.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="conservative"):
        eta(adv, cv, "vanilla")


def test_the_surrogate_adds_the_critics_term_only_for_q_prop():
    policy, critic = _policy_and_critic()
    obs, actions = torch.randn(32, 3), torch.randn(32, 2)
    old = policy.log_prob(obs, actions).detach()
    signal = torch.randn(32)
    plain = surrogate(policy, obs, actions, old, signal)
    assert torch.isclose(plain, -signal.mean())  # ratio 1 at the old policy
    etas = torch.ones(32)
    mixed = surrogate(policy, obs, actions, old, signal, critic, etas)
    assert torch.isclose(mixed, plain - critic(obs, policy.mean(obs)).mean())


def test_the_gradient_variance_matches_per_sample_autograd():
    policy, critic = _policy_and_critic()
    obs, actions, signal = torch.randn(6, 3), torch.randn(6, 2), torch.randn(6)
    etas = torch.tensor([1.0, 0, 1, 1, 0, 1])
    grads = []
    for i in range(6):
        term = policy.log_prob(obs[i:i + 1], actions[i:i + 1]).sum() * signal[i] \
            + etas[i] * critic(obs[i:i + 1], policy.mean(obs[i:i + 1])).sum()
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(term, list(policy.parameters()))]))
    g = torch.stack(grads)
    got = gradient_variance(policy, obs, actions, signal, critic, etas, chunk=4)
    assert got["variance"] == pytest.approx(float(g.var(0).sum() / 6), rel=1e-4)
    assert got["mean_sq_norm"] == pytest.approx(float(g.mean(0).pow(2).sum()), rel=1e-4)
    assert gradient_variance(policy, obs, actions, torch.zeros(6))["variance"] == 0.0


def test_the_critic_learns_a_known_value_from_the_replay_buffer():
    # every transition ends its episode with reward 2: Q = 2 * reward_scale everywhere
    torch.manual_seed(0)
    policy, critic = _policy_and_critic()
    target = Critic(3, 2, (16, 16))
    target.load_state_dict(critic.state_dict())
    buf = ReplayBuffer(500, 3, 2)
    rng = np.random.default_rng(0)
    n = 500
    buf.add(obs=rng.normal(size=(n, 3)).astype(np.float32), actions=rng.normal(size=(n, 2)).astype(np.float32),
            rewards=np.full(n, 2.0, np.float32), next_obs=rng.normal(size=(n, 3)).astype(np.float32),
            terminated=np.ones(n, np.float32))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
    first = fit_critic(critic, target, opt, buf, policy, 20, 64, 0.99, 0.01, 0.5, rng)
    before = [p.detach().clone() for p in target.parameters()]
    last = fit_critic(critic, target, opt, buf, policy, 300, 64, 0.99, 0.01, 0.5, rng)
    assert last < first / 10
    q = critic(torch.randn(10, 3), torch.randn(10, 2))
    np.testing.assert_allclose(q.detach().numpy(), 1.0, atol=0.2)
    # the target network follows the critic slowly (tau per step): moved, but not onto it
    moved = sum((a - b).pow(2).sum() for a, b in zip(before, target.parameters()))
    left = sum((a - b).pow(2).sum() for a, b in zip(target.parameters(), critic.parameters()))
    assert moved > 0 and 0 < left
