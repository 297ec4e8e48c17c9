"""The DCGAN train step contains no dilated convolution: the formulation that keeps it fast.

XLA:CPU runs convolutions with lhs (input) or rhs (window) dilation through a slow generic
loop: the gradients JAX derives for a transposed conv (lhs-dilated) and, inside lax.scan, for a
strided conv (window-dilated kernel gradient) were 15-100x slower than torch's step. jaxgan's
layers (jaxgan/ops/conv.py) give both a custom VJP built from stride-1 / strided
convolutions and matmuls. This test reads the traced step (no compile, no timing) and fails if
a change brings a dilated convolution back. Numbers: benchmarks/conv_transpose.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

from jaxgan.config import load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.ops import conv
from jaxgan.steps import make_train_step


def _convs(jaxpr):
    """Every conv_general_dilated equation in a (closed) jaxpr, sub-jaxprs included."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(sub, jex_core.ClosedJaxpr):
                    yield from _convs(sub.jaxpr)
                elif isinstance(sub, jex_core.Jaxpr):
                    yield from _convs(sub)


def _step_jaxpr():
    cfg = load_config("configs/dcgan_celeba.yaml",
                      ["model.generator.width=4", "model.discriminator.width=4", "train.batch_size=2"])
    gan = build_gan(cfg, (64, 64, 3))
    state = jax.eval_shape(lambda: init_state(gan, cfg.seed))
    batch = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.uint8)
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    return jax.make_jaxpr(make_train_step(gan))(state, batch, key).jaxpr


def test_dcgan_train_step_has_no_dilated_convolution():
    convs = list(_convs(_step_jaxpr()))
    assert len(convs) >= 10  # the forwards and the custom backward convolutions are there
    for eqn in convs:
        assert tuple(eqn.params["lhs_dilation"]) == (1, 1), eqn
        assert tuple(eqn.params["rhs_dilation"]) == (1, 1), eqn


def test_the_reference_formulation_would_fail_this_check():
    saved = conv.conv2d, conv.conv_transpose2d
    conv.conv2d, conv.conv_transpose2d = conv.conv2d_reference, conv.conv_transpose2d_reference
    try:
        dilations = [tuple(e.params["lhs_dilation"]) + tuple(e.params["rhs_dilation"]) for e in _convs(_step_jaxpr())]
    finally:
        conv.conv2d, conv.conv_transpose2d = saved
    assert any(np.prod(d) > 1 for d in dilations)
