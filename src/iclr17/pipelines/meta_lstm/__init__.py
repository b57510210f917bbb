"""Ravi & Larochelle (ICLR 2017): Optimization as a Model for Few-Shot Learning."""

from .pipeline import SHOTS, create_pipeline

__all__ = ["SHOTS", "create_pipeline"]
