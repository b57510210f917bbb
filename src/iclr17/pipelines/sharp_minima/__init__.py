"""Keskar et al. (ICLR 2017): On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima."""

from .pipeline import create_cifar_pipeline, create_pipeline

__all__ = ["create_cifar_pipeline", "create_pipeline"]
