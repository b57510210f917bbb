"""Inan, Khosravi & Socher (ICLR 2017): Tying Word Vectors and Word Classifiers."""

from .pipeline import VARIANTS, create_pipeline, create_report_pipeline

__all__ = ["VARIANTS", "create_pipeline", "create_report_pipeline"]
