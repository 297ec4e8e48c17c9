"""DCGAN (seeds 000/003): parameter shapes and counts, output shapes, init, a few train steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.steps import make_train_chunk


def _shapes(tree):
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), tree)


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def _abstract_init(module, example):
    return jax.eval_shape(lambda: module.init({"params": jax.random.PRNGKey(0)}, example, train=False))


def test_generator_param_shapes_and_count():
    v = _abstract_init(DCGANGenerator(ngf=64, nc=3), jnp.zeros((1, 100)))
    assert _shapes(v["params"]) == {
        "convt0": {"kernel": (4, 4, 512, 100)},   # torch (100, 512, 4, 4) -> (kh, kw, out, in)
        "bn1": {"scale": (512,), "bias": (512,)},
        "convt3": {"kernel": (4, 4, 256, 512)},
        "bn4": {"scale": (256,), "bias": (256,)},
        "convt6": {"kernel": (4, 4, 128, 256)},
        "bn7": {"scale": (128,), "bias": (128,)},
        "convt9": {"kernel": (4, 4, 64, 128)},
        "bn10": {"scale": (64,), "bias": (64,)},
        "convt12": {"kernel": (4, 4, 3, 64)},
    }
    # 100*512*16 + 2*512 + 512*256*16 + 2*256 + 256*128*16 + 2*128 + 128*64*16 + 2*64 + 64*3*16
    # = 819,200 + 1,024 + 2,097,152 + 512 + 524,288 + 256 + 131,072 + 128 + 3,072 = 3,576,704
    # (= sum(p.numel() for p in netG.parameters()) of the tutorial's Generator)
    assert _count(v["params"]) == 3_576_704
    assert _shapes(v["batch_stats"])["bn1"] == {"mean": (512,), "var": (512,)}
    assert _count(v["batch_stats"]) == 2 * (512 + 256 + 128 + 64)


def test_discriminator_param_shapes_and_count():
    v = _abstract_init(DCGANDiscriminator(ndf=64), jnp.zeros((1, 64, 64, 3)))
    assert _shapes(v["params"]) == {
        "conv0": {"kernel": (4, 4, 3, 64)},       # torch (64, 3, 4, 4) -> (kh, kw, in, out)
        "conv2": {"kernel": (4, 4, 64, 128)},
        "bn3": {"scale": (128,), "bias": (128,)},
        "conv5": {"kernel": (4, 4, 128, 256)},
        "bn6": {"scale": (256,), "bias": (256,)},
        "conv8": {"kernel": (4, 4, 256, 512)},
        "bn9": {"scale": (512,), "bias": (512,)},
        "conv11": {"kernel": (4, 4, 512, 1)},
    }
    # 3*64*16 + 64*128*16 + 2*128 + 128*256*16 + 2*256 + 256*512*16 + 2*512 + 512*1*16
    # = 3,072 + 131,072 + 256 + 524,288 + 512 + 2,097,152 + 1,024 + 8,192 = 2,765,568
    assert _count(v["params"]) == 2_765_568


def _init(module, example):
    """module.init under one jit: a single compile instead of one per eager op."""
    return jax.jit(lambda key: module.init(key, example, train=False))(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def small():
    g, d = DCGANGenerator(ngf=8, nc=3), DCGANDiscriminator(ndf=8)
    return g, _init(g, jnp.zeros((1, 100))), d, _init(d, jnp.zeros((1, 64, 64, 3)))


def test_output_shapes_and_ranges(small):
    g, gv, d, dv = small
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 100))
    images, _ = jax.jit(lambda v, z: g.apply(v, z, train=True, mutable=["batch_stats"]))(gv, z)
    assert images.shape == (2, 64, 64, 3)
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    p = jax.jit(lambda v, x: d.apply(v, x, train=False))(dv, images)  # eval: no mutable needed
    assert p.shape == (2,)
    assert bool(jnp.all((p > 0) & (p < 1)))


def test_init_leaves_batch_stats(small):
    _, gv, _, dv = small
    for variables in (gv, dv):
        for stats in variables["batch_stats"].values():
            np.testing.assert_array_equal(stats["mean"], 0.0)
            np.testing.assert_array_equal(stats["var"], 1.0)


def test_dcgan_init_is_weights_init():
    v = _init(DCGANGenerator(ngf=32, nc=3, weight_init="dcgan"), jnp.zeros((1, 100)))
    w = np.asarray(v["params"]["convt3"]["kernel"])  # 4*4*128*256 = 131,072 draws of N(0, 0.02)
    assert abs(w.mean()) < 3e-4 and abs(w.std() - 0.02) < 3e-4
    s = np.asarray(v["params"]["bn1"]["scale"])  # 256 draws of N(1, 0.02)
    assert abs(s.mean() - 1.0) < 0.005 and abs(s.std() - 0.02) < 0.005
    np.testing.assert_array_equal(v["params"]["bn1"]["bias"], 0.0)


def test_torch_default_init_bounds():
    v = _init(DCGANGenerator(ngf=8, nc=3, weight_init="torch_default"), jnp.zeros((1, 100)))
    # ConvTranspose2d(100, 64, 4): torch's fan_in = weight.size(1) * 16 = 64 * 16
    w = np.asarray(v["params"]["convt0"]["kernel"])
    bound = 1 / np.sqrt(64 * 16)
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.95 * bound
    np.testing.assert_array_equal(v["params"]["bn1"]["scale"], 1.0)
    d = _init(DCGANDiscriminator(ndf=8, weight_init="torch_default"), jnp.zeros((1, 64, 64, 3)))
    w = np.asarray(d["params"]["conv2"]["kernel"])  # Conv2d(8, 16, 4): fan_in = 8 * 16
    bound = 1 / np.sqrt(8 * 16)
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.95 * bound


def test_builder_reads_config_and_rejects_other_sizes():
    cfg = load_config("configs/dcgan_celeba.yaml", ["model.generator.width=8", "model.discriminator.width=4"])
    g, d = models.build(cfg.model, (64, 64, 3))
    assert (g.ngf, g.nc, g.weight_init, d.ndf, d.weight_init) == (8, 3, "dcgan", 4, "dcgan")
    with pytest.raises(JaxganError, match="64x64"):
        models.build(cfg.model, (32, 32, 3))


def test_cifar10_recipe_builds_the_same_nets():
    cfg = load_config("configs/dcgan_cifar10.yaml")
    g, d = models.build(cfg.model, (64, 64, 3))
    assert (g, d) == (DCGANGenerator(64, 3, "dcgan"), DCGANDiscriminator(64, "dcgan"))


def test_train_chunk_runs_and_moves_batch_stats():
    cfg = load_config("configs/dcgan_celeba.yaml",
                      ["model.generator.width=8", "model.discriminator.width=8", "train.batch_size=4"])
    gan = build_gan(cfg, (64, 64, 3))
    state = jax.jit(lambda: init_state(gan, cfg.seed))()
    batches = np.random.default_rng(0).integers(0, 256, (2, 4, 64, 64, 3), dtype=np.uint8)
    new_state, metrics = make_train_chunk(gan)(state, jnp.asarray(batches))
    assert int(new_state.step) == 2
    for name, values in metrics.items():
        assert values.shape == (2,), name
        assert bool(jnp.all(jnp.isfinite(values))), name
    for old, new in ((state.g, new_state.g), (state.d, new_state.d)):
        for layer in old.batch_stats:
            assert not np.allclose(old.batch_stats[layer]["mean"], new.batch_stats[layer]["mean"]), layer
            assert not np.allclose(old.batch_stats[layer]["var"], new.batch_stats[layer]["var"]), layer
    assert not np.allclose(state.g.params["bn1"]["scale"], new_state.g.params["bn1"]["scale"])
    assert not np.allclose(state.d.params["conv0"]["kernel"], new_state.d.params["conv0"]["kernel"])
