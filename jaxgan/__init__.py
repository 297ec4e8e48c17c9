"""jaxgan: the classic GANs in functional JAX, with a PyTorch reference and parity tests."""

__version__ = "0.1.0"
