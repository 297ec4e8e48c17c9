"""Maxout GAN (seed 004): parameter shapes and counts, maxout pieces, dropout, a few train steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.models.maxout import Maxout, MaxoutDiscriminator, MaxoutGenerator
from jaxgan.steps import make_train_chunk


def _shapes(tree):
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), tree)


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def _abstract_init(module, example):
    return jax.eval_shape(lambda: module.init({"params": jax.random.PRNGKey(0)}, example, train=False))


@pytest.fixture(scope="module")
def recipe():
    return load_config("configs/gan_maxout_mnist.yaml")


def test_builder_follows_the_recipe(recipe):
    g, d = models.build(recipe.model, (28, 28, 1))
    assert g == MaxoutGenerator((28, 28, 1), (1200, 1200), "relu", 0.01, "relu")
    assert d == MaxoutDiscriminator((240, 240), 5, 0.8, "sigmoid")


def test_generator_param_shapes_and_count(recipe):
    g, _ = models.build(recipe.model, (28, 28, 1))
    v = _abstract_init(g, jnp.zeros((1, 100)))
    assert _shapes(v["params"]) == {
        "linear_1": {"kernel": (100, 1200), "bias": (1200,)},
        "linear_2": {"kernel": (1200, 1200), "bias": (1200,)},
        "linear_3": {"kernel": (1200, 784), "bias": (784,)},
    }
    # (100*1200 + 1200) + (1200*1200 + 1200) + (1200*784 + 784)
    # = 121,200 + 1,441,200 + 941,584 = 2,503,984
    assert _count(v["params"]) == 2_503_984


def test_discriminator_param_shapes_and_count(recipe):
    _, d = models.build(recipe.model, (28, 28, 1))
    v = _abstract_init(d, jnp.zeros((1, 28, 28, 1)))
    assert _shapes(v["params"]) == {
        "max_1": {"linear": {"kernel": (784, 1200), "bias": (1200,)}},  # Linear(784, 240*5)
        "max_2": {"linear": {"kernel": (240, 1200), "bias": (1200,)}},  # Linear(240, 240*5)
        "linear": {"kernel": (240, 1), "bias": (1,)},
    }
    # (784*1200 + 1200) + (240*1200 + 1200) + (240 + 1) = 942,000 + 289,200 + 241 = 1,231,441
    assert _count(v["params"]) == 1_231_441
    assert "batch_stats" not in v


def test_maxout_takes_the_max_of_consecutive_pieces():
    # torch: view(-1, out, k).max(2) -> unit j is the max of Linear outputs j*k .. j*k+k-1.
    m = Maxout(features=3, pieces=2)
    x = jnp.eye(4)[:1]  # picks row 0 of the kernel
    kernel = jnp.zeros((4, 6)).at[0].set(jnp.array([1.0, 5.0, -2.0, -3.0, 7.0, 0.0]))
    v = {"params": {"linear": {"kernel": kernel, "bias": jnp.zeros(6)}}}
    np.testing.assert_array_equal(m.apply(v, x), [[5.0, -2.0, 7.0]])


def test_output_shapes_and_dropout(recipe):
    g, d = models.build(recipe.model, (28, 28, 1))
    z = jax.random.normal(jax.random.PRNGKey(1), (3, 100))
    gv = jax.jit(lambda k: g.init(k, z, train=False))(jax.random.PRNGKey(0))
    images = jax.jit(lambda v: g.apply(v, z, train=False))(gv)
    assert images.shape == (3, 28, 28, 1)
    assert float(images.min()) >= 0.0  # the seed's final ReLU
    dv = jax.jit(lambda k: d.init(k, images, train=False))(jax.random.PRNGKey(2))

    @jax.jit
    def run(key, mask):
        return (d.apply(dv, images, train=False),
                d.apply(dv, images, train=True, rngs={"dropout": key}),
                d.apply(dv, images, train=True, dropout_mask=mask))

    ones = jnp.ones((3, 240), bool)
    p_eval, p_drop, p_ones = run(jax.random.PRNGKey(3), ones)
    assert p_eval.shape == p_drop.shape == (3,)
    assert not np.allclose(p_eval, p_drop)  # dropout is on in train mode
    # an explicit mask replaces the rng: kept units are still scaled by 1/(1-p) = 5, and the
    # result does not depend on the key
    assert not np.allclose(p_eval, p_ones)
    p_ones2 = run(jax.random.PRNGKey(4), ones)[2]
    np.testing.assert_array_equal(p_ones, p_ones2)


def test_builder_refuses_incomplete_recipes(recipe):
    no_pieces = recipe.model.model_copy(update={
        "discriminator": recipe.model.discriminator.model_copy(update={"maxout_pieces": None})})
    with pytest.raises(JaxganError, match="maxout_pieces"):
        models.build(no_pieces, (28, 28, 1))
    with pytest.raises(JaxganError, match="torch_default"):
        models.build(recipe.model.model_copy(update={"init": "dcgan"}), (28, 28, 1))


def test_train_chunk_runs():
    cfg = load_config("configs/gan_maxout_mnist.yaml", ["train.batch_size=4"])
    gan = build_gan(cfg, (28, 28, 1))
    state = jax.jit(lambda: init_state(gan, cfg.seed))()
    batches = np.random.default_rng(0).integers(0, 256, (2, 4, 28, 28, 1), dtype=np.uint8)
    new_state, metrics = make_train_chunk(gan)(state, jnp.asarray(batches))
    assert int(new_state.step) == 2
    for name, values in metrics.items():
        assert values.shape == (2,), name
        assert bool(jnp.all(jnp.isfinite(values))), name
    assert not np.allclose(state.g.params["linear_3"]["kernel"], new_state.g.params["linear_3"]["kernel"])
    assert not np.allclose(state.d.params["max_1"]["linear"]["kernel"],
                           new_state.d.params["max_1"]["linear"]["kernel"])
