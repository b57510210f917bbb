"""TRPO (Schulman et al., 2015) with GAE (Schulman et al., 2016): a Gaussian MLP policy, rllab's
linear-feature baseline, the conjugate-gradient natural step and its backtracking line search."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def mlp(sizes: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([activation()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class GaussianPolicy(nn.Module):
    """pi(a|s) = N(mu(s), diag(exp(log_std))^2): an MLP mean and a state-independent log std."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (100, 50), init_log_std: float = 0.0):
        super().__init__()
        self.mean = mlp([obs_dim, *hidden, act_dim], nn.Tanh)
        with torch.no_grad():  # small initial means: the first actions are the noise's
            self.mean[-1].weight.mul_(0.01)
            self.mean[-1].bias.zero_()
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.mean(obs), self.log_std.exp())

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.distribution(obs).log_prob(actions).sum(-1)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = self.mean(obs)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return mean + noise * self.log_std.exp()


def gaussian_kl(mean0: torch.Tensor, log_std0: torch.Tensor, mean1: torch.Tensor, log_std1: torch.Tensor) -> torch.Tensor:
    """KL(N0 || N1) of diagonal Gaussians, summed over action dimensions: one value per state."""
    var0, var1 = (2 * log_std0).exp(), (2 * log_std1).exp()
    return (log_std1 - log_std0 + (var0 + (mean0 - mean1) ** 2) / (2 * var1) - 0.5).sum(-1)


class LinearBaseline:
    """rllab's ``LinearFeatureBaseline`` (the Q-Prop launcher's ``baseline_cls linear``): V(s, t)
    linear in (s, s^2, t, t^2, t^3, 1) with t the step / 100, fitted by ridge regression."""

    def __init__(self, reg: float = 1e-5):
        self.reg, self.coef = reg, None

    @staticmethod
    def features(obs: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
        o = np.clip(obs, -10, 10).astype(np.float64)
        t = (timesteps.astype(np.float64) / 100.0)[..., None]
        return np.concatenate([o, o**2, t, t**2, t**3, np.ones_like(t)], axis=-1)

    def predict(self, obs: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
        if self.coef is None:
            return np.zeros(obs.shape[:-1], np.float32)
        return (self.features(obs, timesteps) @ self.coef).astype(np.float32)

    def fit(self, obs: np.ndarray, timesteps: np.ndarray, targets: np.ndarray) -> None:
        x = self.features(obs, timesteps).reshape(-1, obs.shape[-1] * 2 + 4)
        y, reg = targets.reshape(-1).astype(np.float64), self.reg
        for _ in range(5):  # raise the ridge until the solve is finite (rllab does the same)
            coef = np.linalg.lstsq(x.T @ x + reg * np.eye(x.shape[1]), x.T @ y, rcond=None)[0]
            if np.isfinite(coef).all():
                self.coef = coef
                return
            reg *= 10

    def state_dict(self) -> dict:
        return {"reg": self.reg, "coef": None if self.coef is None else self.coef.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.reg, self.coef = state["reg"], state["coef"]


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray, ends: np.ndarray,
        gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates of one stream of steps per column (time first, (T, N)):
    delta_t = r_t + gamma (1 - terminated_t) V(s_t+1) - V(s_t), summed back with gamma*lambda
    within each episode (``ends`` cuts; the last step of the stream is cut too)."""
    delta = rewards + gamma * (1.0 - terminated) * next_values - values
    adv, running = np.zeros_like(delta), np.zeros(delta.shape[1:], delta.dtype)
    for t in range(len(delta) - 1, -1, -1):
        running = delta[t] + gamma * lam * (1.0 - ends[t]) * running
        adv[t] = running
    return adv


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int = 10,
                       tol: float = 1e-10) -> torch.Tensor:
    """x with A x = b for a symmetric positive-definite A given as ``matvec``, ``iters`` steps."""
    x, r = torch.zeros_like(b), b.clone()
    p, rr = r.clone(), r @ r
    for _ in range(iters):
        if rr < tol:
            break
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def trpo_step(policy: GaussianPolicy, loss_fn: Callable[[], torch.Tensor], obs: torch.Tensor, max_kl: float,
              cg_iters: int = 10, damping: float = 1e-5, backtracks: int = 15, ratio: float = 0.8) -> dict:
    """One trust-region step on ``loss_fn`` (a surrogate to minimise, evaluated at the policy's
    current parameters): the natural direction by conjugate gradient on the Fisher-vector product
    of the mean KL to the old policy at ``obs``, scaled to the KL bound, then backtracked until the
    loss improves and the KL is within ``max_kl`` (else the step is not taken), as rllab does."""
    params = [p for p in policy.parameters()]
    with torch.no_grad():
        old_mean, old_log_std = policy.mean(obs).clone(), policy.log_std.clone()

    def mean_kl() -> torch.Tensor:
        return gaussian_kl(old_mean, old_log_std, policy.mean(obs), policy.log_std).mean()

    loss = loss_fn()
    grad = parameters_to_vector(torch.autograd.grad(loss, params)).detach()
    kl_grad = parameters_to_vector(torch.autograd.grad(mean_kl(), params, create_graph=True))

    def fisher(v: torch.Tensor) -> torch.Tensor:
        return parameters_to_vector(torch.autograd.grad(kl_grad @ v, params, retain_graph=True)).detach() + damping * v

    direction = conjugate_gradient(fisher, -grad, cg_iters)
    shs = float(direction @ fisher(direction))
    old = parameters_to_vector(params).detach().clone()
    info = {"loss_before": loss.item(), "grad_norm": float(grad.norm()), "accepted": False, "backtracks": backtracks,
            "kl": 0.0, "loss_after": loss.item()}
    if not math.isfinite(shs) or shs <= 0:
        return info
    full = direction * math.sqrt(2 * max_kl / shs)
    with torch.no_grad():
        for k in range(backtracks):
            vector_to_parameters(old + ratio**k * full, params)
            new_loss, kl = float(loss_fn()), float(mean_kl())
            if new_loss < info["loss_before"] and kl <= max_kl:
                info.update(accepted=True, backtracks=k, kl=kl, loss_after=new_loss)
                return info
        vector_to_parameters(old, params)  # no step satisfied both: keep the old policy
    return info
