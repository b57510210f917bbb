"""Q-Prop's own parts (Gu et al., section 3): the off-policy critic Q_w(s, a), its DDPG-style
TD fit from the replay buffer, the control variate from its first-order Taylor expansion around
the policy mean, the adaptive eta of each variant, the Q-Prop surrogate and the per-sample
variance of the policy-gradient estimate with and without the control variate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from iclr17.common.rl.replay import ReplayBuffer
from iclr17.common.rl.trpo import GaussianPolicy, mlp

VARIANTS = {"qprop_c": "conservative", "qprop_a": "aggressive"}


class Critic(nn.Module):
    """Q_w(s, a): an MLP of the concatenated state and action (the launcher's 100x100 ReLU)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (100, 100)):
        super().__init__()
        self.net = mlp([obs_dim + act_dim, *hidden, 1], nn.ReLU)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, actions], -1)).squeeze(-1)


def fit_critic(critic: Critic, target: Critic, optimizer: torch.optim.Optimizer, buffer: ReplayBuffer,
               policy: GaussianPolicy, updates: int, batch_size: int, gamma: float, tau: float, reward_scale: float,
               rng: np.random.Generator) -> float:
    """``updates`` Adam steps on the TD error of minibatches from ``buffer``: the target
    r * scale + gamma (1 - terminated) Q'(s', mu(s')) with Q' the slowly tracking target network
    (soft update ``tau`` after each step) and mu the current policy's mean (the official code's
    target policy); returns the mean squared TD error."""
    device = next(critic.parameters()).device
    index = rng.integers(buffer.size, size=(updates, batch_size))
    data = {k: torch.from_numpy(v[index]).to(device) for k, v in buffer.data.items()}
    with torch.no_grad():  # the policy does not move while the critic fits: its actions at once
        next_actions = policy.mean(data["next_obs"])
    params, target_params = list(critic.parameters()), list(target.parameters())
    losses = torch.zeros(updates)
    for i in range(updates):
        with torch.no_grad():
            y = data["rewards"][i] * reward_scale + gamma * (1 - data["terminated"][i]) * target(data["next_obs"][i], next_actions[i])
        loss = (critic(data["obs"][i], data["actions"][i]) - y).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(target_params, params, tau)
        losses[i] = loss.detach()
    return float(losses.mean())


def control_variate(critic: Critic, policy: GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """A-bar(s, a) = grad_a Q_w(s, a)|_{a = mu(s)} . (a - mu(s)): the critic's first-order Taylor
    expansion around the policy mean, minus its value there (eq. 7)."""
    with torch.no_grad():
        mean = policy.mean(obs)
    at = mean.clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(critic(obs, at).sum(), at)
    return (slope * (actions - mean)).sum(-1).detach()


def eta(advantages: torch.Tensor, cv: torch.Tensor, variant: str) -> torch.Tensor:
    """Adaptive Q-Prop's eta per sample (section 3.3), from the sign of the one-sample
    covariance A-hat * A-bar as the official code computes it: conservative 1 where it is
    positive, else 0; aggressive its sign (+1 / -1)."""
    product = advantages * cv
    if variant == "conservative":
        return (product > 0).to(advantages.dtype)
    if variant == "aggressive":
        return torch.sign(product)
    raise ValueError(f"variant must be 'conservative' or 'aggressive', got {variant!r}")


def surrogate(policy: GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor, old_log_prob: torch.Tensor,
              signal: torch.Tensor, critic: Critic | None = None, etas: torch.Tensor | None = None) -> torch.Tensor:
    """The loss TRPO minimises: -mean(ratio * signal), and for Q-Prop also the analytic term
    -mean(eta * Q_w(s, mu_theta(s))), whose gradient is eta grad_a Q grad_theta mu (eq. 10)."""
    ratio = (policy.log_prob(obs, actions) - old_log_prob).exp()
    loss = -(ratio * signal).mean()
    if critic is not None:
        loss = loss - (etas * critic(obs, policy.mean(obs))).mean()
    return loss


def gradient_variance(policy: GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor, signal: torch.Tensor,
                      critic: Critic | None = None, etas: torch.Tensor | None = None, chunk: int = 1000) -> dict:
    """The variance of the batch-mean policy-gradient estimate, summed over the parameters, from
    the per-sample terms g_i = grad log pi(a_i|s_i) signal_i (+ eta_i grad Q_w(s_i, mu(s_i)) with
    a critic): sum_j Var_i(g_ij) / N, samples taken as independent; and the squared norm of the
    mean (the signal the noise is measured against)."""
    params = {n: p.detach() for n, p in policy.named_parameters()}  # "mean.<layer>..." and "log_std"
    frozen = {n: p.detach() for n, p in critic.named_parameters()} if critic is not None else None
    with_critic = critic is not None

    def term(p, o, a, s, e):
        mean = functional_call(policy.mean, {n.removeprefix("mean."): v for n, v in p.items() if n.startswith("mean.")}, (o,))
        out = torch.distributions.Normal(mean, p["log_std"].exp()).log_prob(a).sum() * s
        if with_critic:
            out = out + e * functional_call(critic, frozen, (o, mean))
        return out

    per_sample = vmap(grad(term), in_dims=(None, 0, 0, 0, 0))
    e = etas if etas is not None else torch.zeros_like(signal)
    total = square = None
    for s in range(0, len(obs), chunk):
        g = per_sample(params, obs[s:s + chunk], actions[s:s + chunk], signal[s:s + chunk], e[s:s + chunk])
        flat = torch.cat([g[n].reshape(g[n].shape[0], -1) for n in params], 1)
        total = flat.sum(0) if total is None else total + flat.sum(0)
        square = flat.pow(2).sum(0) if square is None else square + flat.pow(2).sum(0)
    n = len(obs)
    mean = total / n
    variance = (square / n - mean.pow(2)) * n / max(n - 1, 1)
    return {"variance": float(variance.sum() / n), "mean_sq_norm": float(mean.pow(2).sum())}
