"""The shape of ``parameters_qprop.yml`` (checked before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from iclr17.common.schema import Schema


class Task(Schema):
    env_id: str
    threshold: float
    steps: PositiveInt
    num_envs: PositiveInt | None = None  # instead of trpo.num_envs (each env samples whole episodes)


class Policy(Schema):
    hidden: list[PositiveInt]
    init_log_std: float


class TRPO(Schema):
    batch_size: PositiveInt
    num_envs: PositiveInt
    discount: float = Field(gt=0.0, le=1.0)
    gae_lambda: float = Field(ge=0.0, le=1.0)
    max_kl: PositiveFloat
    cg_iters: PositiveInt
    cg_damping: float = Field(ge=0.0)
    backtracks: PositiveInt
    backtrack_ratio: float = Field(gt=0.0, lt=1.0)


class Critic(Schema):
    hidden: list[PositiveInt]
    lr: PositiveFloat
    batch_size: PositiveInt
    replay_size: PositiveInt
    tau: float = Field(gt=0.0, le=1.0)
    updates_ratio: PositiveFloat
    min_replay: PositiveInt
    reward_scale: PositiveFloat


class DDPG(Schema):
    lr: PositiveFloat
    batch_size: PositiveInt
    replay_size: PositiveInt
    tau: float = Field(gt=0.0, le=1.0)
    noise_std: float = Field(ge=0.0)
    learning_starts: int = Field(ge=0)
    reward_scale: PositiveFloat
    policy_hidden: list[PositiveInt]
    qf_hidden: list[PositiveInt]
    steps: PositiveInt | None = None


class Training(Schema):
    device: Literal["auto", "cpu", "cuda"]
    workers: Literal["auto"] | PositiveInt
    checkpoint_every: PositiveInt


class PaperEntry(Schema):
    max_return: float | None
    episodes: float | None
    note: str = ""


class Paper(Schema):
    table1: dict[str, dict[Literal["qprop", "trpo", "ddpg"], PaperEntry]]


class QProp(Schema):
    seeds: list[int]
    tasks: dict[Literal["reacher", "swimmer", "inverted_pendulum", "half_cheetah", "hopper", "walker2d", "ant", "humanoid"], Task]
    policy: Policy
    trpo: TRPO
    critic: Critic
    ddpg: DDPG
    training: Training
    paper: Paper
