"""Chen et al. (ICLR 2017): Variational Lossy Autoencoder."""

from .pipeline import (
    GROUPS,
    VARIANTS,
    create_pipeline,
    report_pipeline,
    variant_pipeline,
)

__all__ = ["GROUPS", "RECEPTIVE_FIELDS", "VARIANTS", "create_pipeline", "report_pipeline", "variant_pipeline"]
