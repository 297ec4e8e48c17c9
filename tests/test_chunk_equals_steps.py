"""The trainer's path equals single steps: K steps through `make_train_chunk` (whole chunks and
chunks cut short, as the training loop runs them) give bit for bit the state and metrics of K
calls of the jitted single step, each with its own key `step_key(state)`; and every step of a
chunk draws fresh noise. The parity tests compare single steps with PyTorch; this closes the
gap to the trainer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.steps import STEP_BUILDERS, make_train_chunk, step_key

K = 5


HELD_STILL = ["optimizer.generator.lr=1e-30", "optimizer.discriminator.lr=1e-30"]


def _setup(recipe: str, batch: int, overrides=()):
    config = load_config(CONFIG_DIR / f"{recipe}.yaml", [f"train.batch_size={batch}", *overrides])
    gan = build_gan(config, (28, 28, 1))
    rng = np.random.default_rng(0)
    batches = jnp.asarray(rng.integers(0, 256, (K, batch, 28, 28, 1), dtype=np.uint8))
    return gan, init_state(gan, config.seed), batches


def _single_steps(gan, state, batches, count):
    step = jax.jit(STEP_BUILDERS[gan.scheme](gan))
    metrics = []
    for i in range(count):
        state, m = step(state, batches[i], step_key(state))
        metrics.append(m)
    return state, {k: np.stack([np.asarray(m[k]) for m in metrics]) for k in metrics[0]}


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.parametrize("recipe, batch", [("gan_fashion_mnist", 8), ("myfgan_mnist", 1)])
def test_chunks_equal_single_steps_bit_for_bit(recipe, batch):
    gan, state, batches = _setup(recipe, batch)
    chunk = make_train_chunk(gan)
    for count in (K, 2):  # a whole chunk, and one cut short (the rest of the batches unused)
        ours, chunk_metrics = chunk(state, batches, count)
        theirs, step_metrics = _single_steps(gan, state, batches, count)
        assert int(ours.step) == int(theirs.step) == count
        assert _leaves_equal(ours, theirs), f"{recipe}: state after a chunk of {count} differs from {count} steps"
        for k, v in step_metrics.items():
            np.testing.assert_array_equal(np.asarray(chunk_metrics[k])[:count], v, err_msg=f"{recipe} {k}")


@pytest.mark.parametrize("recipe, batch", [("gan_fashion_mnist", 8), ("myfgan_mnist", 1)])
def test_every_step_of_a_chunk_draws_fresh_noise(recipe, batch):
    """With the weights held still (a learning rate of 1e-30: zero biases move by about that,
    every other weight not at all in float32) and one batch shown K times, only the noise can
    change D(G(z)) from step to step: K steps that drew the same z would log one value K times."""
    gan, state, batches = _setup(recipe, batch, HELD_STILL)
    same = jnp.stack([batches[0]] * K)
    held, m = make_train_chunk(gan)(state, same, K)
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(
        jax.tree_util.tree_leaves((held.g.params, held.d.params)),
        jax.tree_util.tree_leaves((state.g.params, state.d.params))))
    assert moved <= 1e-28, f"{recipe}: the weights moved by {moved:.1e}, enough to change D(G(z))"
    for metric in ("d_fake", "d_fake_after"):
        values = np.asarray(m[metric])
        assert len(set(values.tolist())) == K, f"{recipe}: {metric} repeats over steps on one batch: {values}"
    keys = {tuple(np.asarray(jax.random.key_data(step_key(state.replace(step=i)))).ravel()) for i in range(K)}
    assert len(keys) == K, f"{recipe}: step_key gives {len(keys)} distinct keys over {K} steps"


def test_a_second_chunk_continues_where_the_first_ended():
    gan, state, batches = _setup("gan_fashion_mnist", 8)
    chunk = make_train_chunk(gan)
    first, _ = chunk(state, batches, 2)
    both, _ = chunk(first, jnp.concatenate([batches[2:], batches[:2]]), 3)
    theirs, _ = _single_steps(gan, state, batches, K)
    assert _leaves_equal(both, theirs)
