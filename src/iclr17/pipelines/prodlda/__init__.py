"""AVITM / ProdLDA (Srivastava & Sutton, ICLR 2017) on 20 Newsgroups."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
