"""Inan, Khosravi & Socher (ICLR 2017): Tying Word Vectors and Word Classifiers."""

from .nodes import PARENTS
from .pipeline import VARIANTS, create_pipeline, report_pipeline, variant_pipeline

__all__ = ["PARENTS", "VARIANTS", "create_pipeline", "report_pipeline", "variant_pipeline"]
