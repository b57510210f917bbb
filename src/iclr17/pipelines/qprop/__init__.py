"""Gu et al. (ICLR 2017): Q-Prop, sample-efficient policy gradient with an off-policy critic."""

from .pipeline import (
    ALGORITHMS,
    GROUPS,
    TASKS,
    algorithm_pipeline,
    create_pipeline,
    report_pipeline,
)

__all__ = ["ALGORITHMS", "GROUPS", "TASKS", "algorithm_pipeline", "create_pipeline", "report_pipeline"]
