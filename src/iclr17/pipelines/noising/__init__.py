"""Xie et al. (ICLR 2017): Data Noising as Smoothing in Neural Network Language Models."""

from .pipeline import SCHEME_RUNS, create_pipeline, report_pipeline, scheme_pipeline

__all__ = ["SCHEME_RUNS", "create_pipeline", "report_pipeline", "scheme_pipeline"]
