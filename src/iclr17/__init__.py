"""iclr17: Kedro pipelines that reproduce ICLR 2017 papers."""

__version__ = "0.1.0"
