"""GCN (Kipf & Welling, ICLR 2017) on the Planetoid citation splits."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
