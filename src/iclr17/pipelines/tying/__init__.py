"""Inan, Khosravi & Socher (ICLR 2017): Tying Word Vectors and Word Classifiers."""

from .nodes import PARENTS
from .pipeline import (
    VARIANTS,
    create_branch_pipeline,
    create_finish_pipeline,
    create_part_branch_pipeline,
    create_part_pipeline,
    create_pipeline,
    create_report_pipeline,
)

__all__ = ["PARENTS", "VARIANTS", "create_branch_pipeline", "create_finish_pipeline", "create_part_branch_pipeline",
           "create_part_pipeline", "create_pipeline", "create_report_pipeline"]
