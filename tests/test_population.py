"""A population member is its single run: member k of a population of seed s, after K steps in
chunks (one of them cut short), is the single run of seed s + k on the same batches, whichever
way the program holds the members ('vmap' or 'map', jaxgan.population).

Bit for bit where XLA computes the same thing: the initial states, every step counter and key,
and a population of one. Under 'map' each member runs the single run's own scan, and on the
machines measured (AMD EPYC, jax 0.10-0.11) its trajectory was the single run's bit for bit;
the test holds it to the tolerance below, which does not depend on a machine's rounding. A
'vmap' population of more than one is not bitwise on XLA:CPU, because vmap changes the shapes XLA compiles and so the order of some float32 sums (found by isolating
each op of a step, jax 0.10):
  - the batch is shared, so vmap folds the members into the free dimension of the first dot:
    D's last layer (one output) goes from a matrix-vector to a matrix-matrix product;
  - XLA:CPU hands some reductions of the batched shapes (a bias gradient, summing a batch of 8
    over (N, 8, 256)) to its YNNPACK fusion, which adds in another order than its own loop.
Each such difference is a float32 rounding of a sum (relative ~1e-7). The per-step metrics
stay that close (RTOL). Adam then amplifies some of them: it divides every gradient element by
its running RMS plus eps = 1e-8, so a rounding change delta in a gradient element near zero
changes that parameter's step by up to lr * delta / eps. Gradient roundings here are below
1e-9, which bounds a parameter's difference by 0.1 lr (PARAM_ATOL_IN_LR; 0.015 lr seen).
A wrong key or a wrong seed moves parameters by whole steps (~lr) and metrics by percents.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.population import (init_population, make_population_chunk, make_population_gather_chunk, member,
                               population_size, resolve_program, stack)
from jaxgan.steps import make_train_chunk

SEED, MEMBERS, LENGTH, STEPS = 7, 3, 2, 3  # chunks of two steps: one whole, one cut short to one
RTOL = 1e-6  # float32 roundings of the same sums (seen: 2.2e-7)
PARAM_ATOL_IN_LR = 0.1  # Adam's amplification of those roundings, in learning rates (module docstring)
RECIPES = [("gan_fashion_mnist", 8), ("myfgan_mnist", 1), ("gan_maxout_mnist", 8)]  # maxout: dropout
PROGRAMS = ["vmap", "map"]


@functools.lru_cache(maxsize=None)
def _setup(recipe: str, batch: int, program: str = "vmap"):
    """The recipe, its GAN, the batches, and its compiled population and single chunks (built
    once for every test of the recipe: compiling is most of these tests' time)."""
    config = load_config(CONFIG_DIR / f"{recipe}.yaml", [f"train.batch_size={batch}", f"seed={SEED}"])
    batches = np.random.default_rng(0).integers(0, 256, (STEPS + LENGTH, batch, 28, 28, 1), dtype=np.uint8)
    gan = build_gan(config, (28, 28, 1))
    return config, gan, batches, make_population_chunk(gan, program=program), _single_chunk(gan)


@functools.lru_cache(maxsize=None)
def _single_chunk(gan):
    return make_train_chunk(gan)


def _train(chunk, state, batches):
    """STEPS steps in chunks of LENGTH batches, the last cut short; metrics of the steps run."""
    done, metrics = 0, []
    while done < STEPS:
        count = min(LENGTH, STEPS - done)
        state, m = chunk(state, jnp.asarray(batches[done : done + LENGTH]), count)
        metrics.append({k: np.asarray(v)[:count] for k, v in m.items()})
        done += count
    return state, {k: np.concatenate([m[k] for m in metrics]) for k in metrics[0]}


def _leaves(tree):
    return [(jax.tree_util.keystr(path), np.asarray(leaf)) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)]


def _assert_bitwise(ours, theirs, what: str):
    for (name, a), (_, b) in zip(_leaves(ours), _leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: {name}")


def test_member_k_starts_as_the_single_run_of_seed_plus_k():
    _, gan, *_ = _setup("gan_fashion_mnist", 8)
    population = init_population(gan, SEED, MEMBERS)
    assert population_size(population) == MEMBERS
    for k in range(MEMBERS):
        _assert_bitwise(member(population, k), init_state(gan, SEED + k), f"member {k} at start")
    _assert_bitwise(stack([member(population, k) for k in range(MEMBERS)]), population, "stack of the members")
    with pytest.raises(JaxganError, match="at least one member"):
        init_population(gan, SEED, 0)


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("recipe, batch", RECIPES)
def test_member_k_trains_as_the_single_run_of_seed_plus_k(recipe, batch, program):
    config, gan, batches, population_chunk, single = _setup(recipe, batch, program)
    population, pop_metrics = _train(population_chunk, init_population(gan, SEED, MEMBERS), batches)
    lr = {"g": config.optimizer.generator.lr, "d": config.optimizer.discriminator.lr}
    for k in range(MEMBERS):
        state, metrics = _train(single, init_state(gan, SEED + k), batches)
        for name, v in metrics.items():
            np.testing.assert_allclose(pop_metrics[name][:, k], v, rtol=RTOL, err_msg=f"{recipe} member {k} {name}")
        for (path, a), (_, b) in zip(_leaves(member(population, k)), _leaves(state), strict=True):
            if a.dtype.kind != "f":  # the step, the key, Adam's step counts
                assert np.array_equal(a, b), f"{recipe} member {k}: {path} differs"
        for net in ("g", "d"):
            for (path, a), (_, b) in zip(_leaves(getattr(member(population, k), net).params),
                                         _leaves(getattr(state, net).params), strict=True):
                np.testing.assert_allclose(a, b, rtol=0, atol=PARAM_ATOL_IN_LR * lr[net],
                                           err_msg=f"{recipe} member {k}: {net}{path}")
    for name in ("d_fake", "g_loss"):  # the members are different GANs, not copies of one
        first_step = pop_metrics[name][0]
        assert len(set(first_step.tolist())) == MEMBERS, f"{recipe}: members share {name} {first_step}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_population_of_one_is_the_single_run_bit_for_bit(program):
    _, gan, batches, population_chunk, single = _setup("gan_fashion_mnist", 8, program)
    ours, ours_metrics = _train(population_chunk, init_population(gan, SEED, 1), batches)
    theirs, their_metrics = _train(single, init_state(gan, SEED), batches)
    _assert_bitwise(member(ours, 0), theirs, "a population of one")
    for name, v in their_metrics.items():
        np.testing.assert_array_equal(ours_metrics[name][:, 0], v, err_msg=name)


@pytest.mark.parametrize("program", PROGRAMS)
def test_images_on_the_device_train_the_population_as_streamed_batches(program):
    _, gan, batches, population_chunk, _ = _setup("gan_fashion_mnist", 8, program)
    images = batches.reshape(-1, *batches.shape[2:])
    indices = np.arange(len(images), dtype=np.int32).reshape(batches.shape[:2])
    population = init_population(gan, SEED, MEMBERS)
    streamed, streamed_metrics = population_chunk(population, jnp.asarray(batches[:LENGTH]), 1)
    gathered, gathered_metrics = make_population_gather_chunk(gan, program=program)(
        population, jnp.asarray(images), jnp.asarray(indices[:LENGTH]), 1)
    _assert_bitwise(gathered, streamed, "the gathered chunk")
    _assert_bitwise(gathered_metrics, streamed_metrics, "the gathered chunk's metrics")


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_frozen_member_keeps_its_networks_and_the_others_train_as_unfrozen(program):
    config, gan, batches, population_chunk, _ = _setup("gan_fashion_mnist", 8, program)
    population = init_population(gan, SEED, MEMBERS)
    poisoned = population.replace(d=population.d.replace(params=jax.tree.map(
        lambda x: x.at[1].set(jnp.nan), population.d.params)))  # member 1's D is NaN from the start
    freezing = make_population_chunk(gan, freezing=True, program=program)
    alive = jnp.asarray([True] * MEMBERS)
    (frozen, alive), metrics = freezing((poisoned, alive), jnp.asarray(batches[:LENGTH]), LENGTH)
    free, free_metrics = population_chunk(population, jnp.asarray(batches[:LENGTH]), LENGTH)
    assert np.asarray(alive).tolist() == [True, False, True]
    assert np.all(np.isnan(np.asarray(metrics["d_loss"])[:, 1]))
    _assert_bitwise(member(frozen, 1).g, member(poisoned, 1).g, "the frozen member's G")
    for k in (0, 2):  # the freezing program may fuse differently: the roundings of the member test
        for (path, a), (_, b) in zip(_leaves(member(frozen, k).d.params), _leaves(member(free, k).d.params)):
            np.testing.assert_allclose(a, b, rtol=0, atol=PARAM_ATOL_IN_LR * config.optimizer.discriminator.lr,
                                       err_msg=f"member {k}: d{path}")
        np.testing.assert_allclose(np.asarray(metrics["d_loss"])[:, k], np.asarray(free_metrics["d_loss"])[:, k],
                                   rtol=RTOL, err_msg=f"member {k} beside a frozen one")
    assert np.asarray(frozen.step).tolist() == [LENGTH] * MEMBERS  # a frozen member's counter still counts


def test_auto_trains_members_in_turn_on_a_cpu_and_side_by_side_elsewhere():
    assert resolve_program("auto", "cpu") == "map"
    assert resolve_program("auto", "gpu") == "vmap" and resolve_program("auto", "tpu") == "vmap"
    assert resolve_program("vmap", "cpu") == "vmap" and resolve_program("map", "gpu") == "map"
    with pytest.raises(JaxganError, match="'loop': use 'auto', 'vmap' or 'map'"):
        resolve_program("loop")
