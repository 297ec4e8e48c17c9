"""Each compiled program is built once: a loaded generator samples through one compiled
function however often it is called, and a GAN's initialisation compiles once however many
states are drawn from it. Counted with jax's own compile events."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxgan.config import load_config
from jaxgan.gan import build_gan, init_state, make_init
from jaxgan.run.saved_generator import TrainedGenerator
from tests.conftest import REPO

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """Counts XLA backend compilations while active (jax.monitoring has no unregister, so the
    listener stays and only counts between `__enter__` and `__exit__`)."""

    _active: list["CompileCounter"] = []
    _registered = False

    def __init__(self):
        self.count = 0

    @classmethod
    def _listen(cls, name: str, seconds: float, **kwargs) -> None:
        if name == COMPILE_EVENT:
            for counter in cls._active:
                counter.count += 1

    def __enter__(self) -> "CompileCounter":
        if not CompileCounter._registered:
            jax.monitoring.register_event_duration_secs_listener(CompileCounter._listen)
            CompileCounter._registered = True
        CompileCounter._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        CompileCounter._active.remove(self)


@pytest.fixture(scope="module")
def gan():
    return build_gan(load_config(REPO / "configs" / "gan_fashion_mnist.yaml"), (28, 28, 1))


def test_a_loaded_generator_compiles_its_sampler_once(gan):
    generator = TrainedGenerator(gan, init_state(gan, 0), (-1.0, 1.0), 0)
    z, *more = [generator.noise(seed, 16) for seed in range(6)]
    first = generator(z)  # compiles the sampler (and the transfer of a z of this shape)
    with CompileCounter() as compiles:
        for batch in more:  # as sampling and evaluation call it: many batches of one shape
            generator(batch)
    assert compiles.count == 0, f"{compiles.count} compilations for 5 more calls of one generator"
    np.testing.assert_array_equal(generator(z), first)


def test_initialisation_compiles_once_per_gan(gan):
    init_state(gan, 0)  # compiled here
    with CompileCounter() as compiles:
        states = [init_state(gan, seed) for seed in (1, 2, 3)]
    assert compiles.count == 0, f"{compiles.count} compilations for 3 more states of one GAN"
    assert not np.array_equal(states[0].g.params["fc0"]["kernel"], states[1].g.params["fc0"]["kernel"])


def test_the_state_is_created_where_the_sharding_says(gan):
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.asarray(jax.devices()), ("data",)),
                                          jax.sharding.PartitionSpec())
    state = make_init(gan, sharding)(jax.random.PRNGKey(0))
    assert all(leaf.sharding == sharding for leaf in jax.tree.leaves(state))
    expected = init_state(gan, 0)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(expected)))
