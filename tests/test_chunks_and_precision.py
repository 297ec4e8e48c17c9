"""A chunk cut short runs exactly its steps; the prefetcher hands back the right chunk;
bfloat16 mixed precision keeps float32 weights and stays close to float32; the XLA-gradient
convolutions compute the same function as the default ones."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.ops import conv
from jaxgan.run.prefetch import ChunkPrefetcher
from jaxgan.steps import make_train_chunk

from tests.conftest import FASHION_CONFIG

SMALL_DCGAN = ["model.generator.width=8", "model.discriminator.width=8", "train.batch_size=4"]


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_a_short_chunk_runs_exactly_count_steps():
    cfg = load_config(FASHION_CONFIG, ["train.batch_size=8"])
    gan = build_gan(cfg, (28, 28, 1))
    state = init_state(gan, cfg.seed)
    batches = np.random.default_rng(0).integers(0, 256, (5, 8, 28, 28, 1), dtype=np.uint8)
    chunk = make_train_chunk(gan)
    exact, exact_metrics = chunk(state, jnp.asarray(batches[:3]))  # a chunk of 3
    padded, metrics = chunk(state, jnp.asarray(batches), 3)  # 3 of a chunk of 5
    assert int(padded.step) == 3
    assert _leaves_equal(exact, padded)  # bit for bit: the same three steps
    np.testing.assert_array_equal(metrics["g_loss"][:3], exact_metrics["g_loss"])
    assert np.all(np.asarray(metrics["g_loss"][3:]) == 0)
    full, _ = chunk(state, jnp.asarray(batches), 5)
    assert int(full.step) == 5 and not _leaves_equal(full, padded)


def test_prefetcher_returns_the_chunk_asked_for():
    calls = []

    def load(start, end):
        calls.append((start, end, threading.current_thread().name))
        return list(range(start, end))

    with ChunkPrefetcher(load) as chunks:
        assert chunks.get(0, 3) == [0, 1, 2]  # nothing ahead: loaded now, in this thread
        chunks.prefetch(3, 5)
        assert chunks.get(3, 5) == [3, 4]
        assert calls[-1][2].startswith("jaxgan-prefetch")
        chunks.prefetch(5, 7)
        assert chunks.get(2, 4) == [2, 3]  # a rollback: another chunk than the one prepared
    assert [c[:2] for c in calls if c[:2] == (2, 4)] == [(2, 4)]


def test_prefetcher_reraises_the_loaders_error():
    def load(start, end):
        raise JaxganError(f"cannot load {start}")

    with ChunkPrefetcher(load) as chunks:
        chunks.prefetch(4, 8)
        with pytest.raises(JaxganError, match="cannot load 4"):
            chunks.get(4, 8)


def test_bfloat16_keeps_float32_weights_and_follows_float32():
    batches = np.random.default_rng(1).integers(0, 256, (2, 4, 64, 64, 3), dtype=np.uint8)
    out = {}
    for precision in ("float32", "bfloat16"):
        cfg = load_config("configs/dcgan_celeba.yaml", [*SMALL_DCGAN, f"model.precision={precision}"])
        gan = build_gan(cfg, (64, 64, 3))
        state = init_state(gan, cfg.seed)
        new, metrics = make_train_chunk(gan)(state, jnp.asarray(batches))
        for leaf in jax.tree_util.tree_leaves((new.g, new.d)):
            assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype  # weights, Adam moments, stats
        out[precision] = (new, metrics)
    (f32, m32), (b16, m16) = out["float32"], out["bfloat16"]
    np.testing.assert_allclose(m16["d_loss"], m32["d_loss"], rtol=0.05)
    np.testing.assert_allclose(m16["g_loss"], m32["g_loss"], rtol=0.05)
    assert not _leaves_equal(f32.g.params, b16.g.params)  # it did compute in another precision


def test_bfloat16_is_refused_for_models_other_than_dcgan():
    cfg = load_config(FASHION_CONFIG, ["model.precision=bfloat16"])
    with pytest.raises(JaxganError, match="model.precision 'bfloat16' is for model.arch 'dcgan'"):
        models.build(cfg.model, (28, 28, 1))


@pytest.mark.parametrize("impl", ["custom", "xla"])
def test_both_convolution_gradients_compute_the_same_function(monkeypatch, impl):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 5)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(4, 4, 6, 5)), jnp.float32)  # ConvTranspose2d(5 -> 6, 4, 2, 1)
    r = jnp.asarray(rng.normal(size=(2, 8, 8, 5)), jnp.float32)
    monkeypatch.setattr(conv, "implementation", lambda: impl)  # the choice $JAXGAN_CONV_IMPL makes once

    def loss(x, k):
        y = conv.conv_transpose2d(x, k, 2, 1)
        return jnp.sum(r * conv.conv2d(jnp.tanh(y), k, 2, 1))

    def reference(x, k):
        y = conv.conv_transpose2d_reference(x, k, 2, 1)
        return jnp.sum(r * conv.conv2d_reference(jnp.tanh(y), k, 2, 1))

    got, want = jax.grad(loss, (0, 1))(x, k), jax.grad(reference, (0, 1))(x, k)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(w))))
    with pytest.raises(JaxganError, match="JAXGAN_CONV_IMPL='fast': choose custom or xla"):
        conv.parse_implementation("fast")


def test_fake_data_writes_a_large_folder_from_few_images_and_refuses_bad_counts(tmp_path, capsys):
    from jaxgan import fake_data

    config = "configs/dcgan_celeba.yaml"
    assert fake_data.main(["--config", config, "--out", str(tmp_path), "--num", "7", "--distinct", "3"]) == 0
    files = sorted((tmp_path / "img_align_celeba").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.jpg" for i in range(1, 8)]
    assert files[0].read_bytes() == files[3].read_bytes() != files[1].read_bytes()  # cycles through 3
    assert f"--set data.root={tmp_path / 'img_align_celeba'}" in capsys.readouterr().out
    assert fake_data.main(["--config", config, "--out", str(tmp_path / "x"), "--distinct", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --distinct 0: must be 1 to --num (256)\n"
