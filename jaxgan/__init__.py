"""jaxgan: the classic GANs in functional JAX, with a PyTorch reference and parity tests.

What a user programs against, one name per line:

    config = jaxgan.load_config("configs/gan_fashion_mnist.yaml", ["train.max_steps=100"])
    gan = jaxgan.build_gan(config, (28, 28, 1))
    state = jaxgan.init_state(gan, config.seed)
    train_step = jaxgan.make_train_step(gan)        # (state, batch, key) -> (state, metrics)
    summary = jaxgan.train_and_evaluate(config, "runs/x")

The names are imported on first use, so `import jaxgan` stays quick and a command-line front
end loads only what it needs.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # recipes
    "Config": "jaxgan.config",
    "load_config": "jaxgan.config",
    # the GAN and its state
    "GAN": "jaxgan.gan",
    "GANState": "jaxgan.gan",
    "build_gan": "jaxgan.gan",
    "init_state": "jaxgan.gan",
    # the pure steps and their compiled forms
    "make_train_step": "jaxgan.steps",
    "make_book_step": "jaxgan.steps",
    "make_train_chunk": "jaxgan.steps",
    "make_generate": "jaxgan.steps",
    # data
    "BatchPipeline": "jaxgan.data",
    "load_images": "jaxgan.data",
    "load_labelled": "jaxgan.data",
    # training, sampling, scoring
    "train_and_evaluate": "jaxgan.run",
    "load_generator": "jaxgan.run.saved_generator",
    "make_evaluator": "jaxgan.quality",
    # PyTorch weights, both ways
    "from_torch": "jaxgan.interop",
    "to_torch": "jaxgan.interop",
    # the one error a user sees
    "JaxganError": "jaxgan.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
