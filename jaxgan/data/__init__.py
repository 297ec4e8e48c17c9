"""Datasets as uint8 arrays in memory, and deterministic batches of them."""

from jaxgan.data.pipeline import BatchPipeline, to_float
from jaxgan.data.sources import load_images

__all__ = ["BatchPipeline", "load_images", "to_float"]
