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


def test_output_shapes_and_ranges():
    g, d = DCGANGenerator(ngf=8, nc=3), DCGANDiscriminator(ndf=8)
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 100))
    gv = g.init(jax.random.PRNGKey(2), z, train=False)
    images, _ = g.apply(gv, z, train=True, mutable=["batch_stats"])
    assert images.shape == (2, 64, 64, 3)
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    dv = d.init(jax.random.PRNGKey(3), images, train=False)
    p = d.apply(dv, images, train=False)
    assert p.shape == (2,)
    assert bool(jnp.all((p > 0) & (p < 1)))


def test_init_leaves_batch_stats_and_eval_is_pure():
    g = DCGANGenerator(ngf=8, nc=1)
    z = jnp.ones((3, 100))
    v = g.init(jax.random.PRNGKey(0), z, train=False)
    for stats in v["batch_stats"].values():
        np.testing.assert_array_equal(stats["mean"], 0.0)
        np.testing.assert_array_equal(stats["var"], 1.0)
    g.apply(v, z, train=False)  # no mutable collection needed in eval mode


def test_dcgan_init_is_weights_init():
    v = DCGANGenerator(ngf=64, nc=3, weight_init="dcgan").init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
    w = np.asarray(v["params"]["convt3"]["kernel"])  # 2M draws: mean 0, std 0.02
    assert abs(w.mean()) < 1e-4 and abs(w.std() - 0.02) < 1e-4
    s = np.asarray(v["params"]["bn1"]["scale"])  # 512 draws of N(1, 0.02)
    assert abs(s.mean() - 1.0) < 0.005 and abs(s.std() - 0.02) < 0.005
    np.testing.assert_array_equal(v["params"]["bn1"]["bias"], 0.0)


def test_torch_default_init_bounds():
    v = DCGANGenerator(ngf=8, nc=3, weight_init="torch_default").init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
    # ConvTranspose2d(100, 64, 4): torch's fan_in = weight.size(1) * 16 = 64 * 16
    w = np.asarray(v["params"]["convt0"]["kernel"])
    bound = 1 / np.sqrt(64 * 16)
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.95 * bound
    np.testing.assert_array_equal(v["params"]["bn1"]["scale"], 1.0)
    d = DCGANDiscriminator(ndf=8, weight_init="torch_default").init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)), train=False)
    w = np.asarray(d["params"]["conv2"]["kernel"])  # Conv2d(8, 16, 4): fan_in = 8 * 16
    bound = 1 / np.sqrt(8 * 16)
    assert w.max() <= bound and w.min() >= -bound and w.max() > 0.95 * bound


def test_builder_reads_config_and_rejects_other_sizes():
    cfg = load_config("configs/dcgan_celeba.yaml", ["model.generator.width=8", "model.discriminator.width=4"])
    g, d = models.build(cfg.model, (64, 64, 3))
    assert (g.ngf, g.nc, g.weight_init, d.ndf, d.weight_init) == (8, 3, "dcgan", 4, "dcgan")
    with pytest.raises(JaxganError, match="64x64"):
        models.build(cfg.model, (32, 32, 3))


@pytest.mark.parametrize("recipe", ["dcgan_celeba", "dcgan_cifar10"])
def test_train_chunk_runs_and_moves_batch_stats(recipe):
    cfg = load_config(f"configs/{recipe}.yaml",
                      ["model.generator.width=8", "model.discriminator.width=8", "train.batch_size=4"])
    gan = build_gan(cfg, (64, 64, 3))
    state = init_state(gan, cfg.seed)
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
        assert not np.allclose(old.params["bn1" if "bn1" in old.params else "bn3"]["scale"],
                               new.params["bn1" if "bn1" in new.params else "bn3"]["scale"])
