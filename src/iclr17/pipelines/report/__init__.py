"""The reproduction report: each paper's headline table beside this project's latest MLflow runs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
