"""A population: N independent GANs of one recipe, trained by one compiled program.

GAN results vary from seed to seed, and a GAN of these recipes is far too small to fill a GPU.
The program holds the members in one of two ways (`train.population_program`):

  - 'vmap': `jax.vmap` over N stacked states batches the members into every op, so on a GPU N
    members cost little more than one (an H200: 32 Fashion-MNIST GANs at 10x the member-steps/s
    of one after another);
  - 'map': `lax.map` over the members trains them in turn inside the program, each member's
    whole chunk before the next. A CPU is already busy with one member: there vmap took
    1.1-1.35x the time of N single runs for the MLPs and 2.1x for DCGAN (grouped convolutions),
    map 0.99-1.06x (docs/benchmarks.md).

'auto' (the default) is 'map' on a CPU and 'vmap' elsewhere (docs/benchmarks.md).

The population's state is one `GANState` whose every leaf has a leading axis of length N
(`stack`, `member`). Members differ in their initialisation and noise seeds and share the
batches. For a run of seed `seed`:

  - member k is initialised exactly as `init_state(gan, seed + k)`: its weights, its RNG key
    and so every step's key `step_key` (z and dropout masks) are those of a single run of seed
    `seed + k`;
  - every member sees the batches of the run's data order, the `BatchPipeline` seeded with
    `seed`.

So member k is the single run of seed `seed + k` whose batches come from the pipeline of seed
`seed`; member 0 is the single run of seed `seed` itself. Under 'map' a member runs the single
run's own scan (bit for bit on the CPU measured); under 'vmap' it is that run up to float32
rounding (vmap changes the order of some sums; tests/test_population.py says where and how
far). A population of one is the single run bit for bit either way.

A trainer's chunks (`freezing=True`) also carry `alive`, one flag per member: a member whose
step gives a non-finite metric or parameter keeps its last finite networks from then on, reads
NaN metrics, and the others train on. Its step counter still counts, so every member's counter
is the run's step (`step_of`).
"""

from __future__ import annotations

from typing import Optional, Sequence, get_args

import jax
import jax.numpy as jnp

from jaxgan.config import PopulationProgram
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, init_state
from jaxgan.parallel import to_host
from jaxgan.steps import STEP_BUILDERS, ChunkRunner, step_key



def resolve_program(program: PopulationProgram, backend: Optional[str] = None) -> str:
    """'vmap' or 'map' for `program`; 'auto' is 'map' on the CPU backend, 'vmap' on any other."""
    if program not in get_args(PopulationProgram):
        raise JaxganError(f"population program {program!r}: use 'auto', 'vmap' or 'map'")
    if program != "auto":
        return program
    return "map" if (backend or jax.default_backend()) == "cpu" else "vmap"


def stack(states: Sequence[GANState]) -> GANState:
    """One population state from single states: each leaf stacked on a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def member(state: GANState, k: int) -> GANState:
    """Member k of a population state, as a single GANState."""
    return jax.tree.map(lambda leaf: leaf[k], state)


def population_size(state: GANState) -> int:
    """N, the length of every leaf's leading axis."""
    return int(state.step.shape[0])


def step_of(state: GANState) -> int:
    """The step a single state or a population has reached (its members count together)."""
    return int(to_host(state.step).reshape(-1)[0])


def pick_member(state: GANState, k: Optional[int], population: int, where: str) -> GANState:
    """Member `k` of a state saved by a run of `population` members, as a single GANState. A
    single run is member 0 of itself; a population needs k named."""
    if k is not None and not 0 <= k < population:
        raise JaxganError(f"--member {k}: {where} holds {population} member(s), 0 to {population - 1}")
    if population == 1:
        return state
    if k is None:
        raise JaxganError(f"{where} is a population of {population} members: pick one with --member 0 to {population - 1}")
    return member(state, k)


def init_population(gan: GAN, seed: int, n: int) -> GANState:
    """N fresh members, member k initialised from seed `seed + k` (the module's derivation).

    Each member goes through `init_state` itself (one compiled program, run N times), so it is
    the single run's initial state by construction, not by an argument about vmap."""
    if n < 1:
        raise JaxganError(f"a population needs at least one member, got {n}")
    return stack([init_state(gan, seed + k) for k in range(n)])


def _member_step(gan: GAN):
    """One member's train step on a batch, with the member's own key for the step."""
    train_step = STEP_BUILDERS[gan.scheme](gan)

    def step(state: GANState, batch):
        return train_step(state, batch, step_key(state))

    return step


def _finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _freezing(step):
    """`step` on (state, alive): a member whose step gives a non-finite metric or network keeps
    the networks it had before it and NaN metrics from then on; its step counter still counts."""
    def guarded(carry, x):
        state, alive = carry
        new, metrics = step(state, x)
        alive = alive & _finite(metrics) & _finite((new.g, new.d))
        g, d = jax.tree.map(lambda a, b: jnp.where(alive, a, b), (new.g, new.d), (state.g, state.d))
        metrics = jax.tree.map(lambda m: jnp.where(alive, m, jnp.nan), metrics)
        return (new.replace(g=g, d=d), alive), metrics

    return guarded


def _scan_members(step, states: GANState, xs, count):
    """scan(step) over `xs` (one entry per step); steps past the first `count` leave the
    state as it is and give zero metrics. The test is on the scan's own index, one scalar for
    the whole population, so `lax.cond` stays a branch rather than a select of both sides."""
    _, metric_shapes = jax.eval_shape(step, states, jax.tree.map(lambda x: x[0], xs))

    def body(states, indexed):
        i, x = indexed

        def skip(states, x):
            return states, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metric_shapes)

        return jax.lax.cond(i < count, step, skip, states, x)

    length = jax.tree.leaves(xs)[0].shape[0]
    return jax.lax.scan(body, states, (jnp.arange(length), xs))


def _scan_population(gan: GAN, states: GANState, xs, count, batch_of=lambda x: x, alive=None,
                     program: str = "vmap"):
    """The chunk's scan for every member, each step's batch `batch_of(x)` shared by all.
    'vmap': one scan of jax.vmap of the member step over the states, the batch not mapped.
    'map': lax.map over the members of the single run's scan. With `alive` the carry is
    (states, alive) and the step is the freezing step. Metrics come back (K, N) either way.

    A population of one scans the single step itself, not a vmap of one: vmap changes the
    shapes XLA compiles and with them the order of some float32 sums (tests/test_population.py),
    while the single step keeps a population of one the single run bit for bit."""
    step = _member_step(gan)
    carry = states if alive is None else (states, alive)
    if alive is not None:
        step = _freezing(step)
    if alive is None and population_size(states) == 1:
        state, metrics = _scan_members(lambda s, x: step(s, batch_of(x)), member(states, 0), xs, count)
        return jax.tree.map(lambda leaf: leaf[None], state), jax.tree.map(lambda m: m[:, None], metrics)
    if program == "map":
        def one_member(c):
            return _scan_members(lambda s, x: step(s, batch_of(x)), c, xs, count)

        carry, metrics = jax.lax.map(one_member, carry)
        return carry, jax.tree.map(lambda m: jnp.swapaxes(m, 0, 1), metrics)
    every = jax.vmap(step, in_axes=(0, None))
    return _scan_members(lambda c, x: every(c, batch_of(x)), carry, xs, count)


def make_population_chunk(gan: GAN, donate: bool = False, freezing: bool = False,
                          program: PopulationProgram = "auto"):
    """jit(scan(vmap(train_step))), or jit(map(scan(train_step))) for program 'map', over a
    chunk of batches (K, B, H, W, C) shared by all members.

    `train_chunk(states, batches, count=K)` mirrors `steps.make_train_chunk`: only the first
    `count` steps run (a traced value, so a chunk cut short runs the same compiled program),
    and `steps.ChunkRunner` drives it as it drives a single run. Returns `(states, metrics)`,
    each metric of shape (K, N); entries past `count` are zeros. With `freezing`, `states` is
    the pair (states, alive), alive a bool per member (the module docstring).
    """
    program = resolve_program(program)

    def train_chunk(states, batches, count=None):
        count = batches.shape[0] if count is None else count
        states, alive = _carry(states, freezing)
        return _scan_population(gan, states, batches, count, alive=alive, program=program)

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())


def make_population_gather_chunk(gan: GAN, donate: bool = False, freezing: bool = False,
                                 program: PopulationProgram = "auto"):
    """make_population_chunk for images kept on the device, as `steps.make_gather_chunk`:
    `train_chunk(states, images, indices, count=K)` with uint8 `images` (M, H, W, C) and int32
    `indices` (K, B); each step's batch is gathered inside the program (once for all members
    under 'vmap', once per member under 'map')."""
    program = resolve_program(program)

    def train_chunk(states, images, indices, count=None):
        def gather(index):
            return jnp.take(images, index, axis=0)

        states, alive = _carry(states, freezing)
        count = indices.shape[0] if count is None else count
        return _scan_population(gan, states, indices, count, gather, alive, program)

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())


def _carry(states, freezing: bool) -> tuple:
    """(states, alive): the freezing chunk's pair, or the states and no flags."""
    return tuple(states) if freezing else (states, None)


class FreezingRunner(ChunkRunner):
    """The ChunkRunner of a trainer's freezing chunks: it keeps the members' `alive` flags on
    the device from chunk to chunk, so a frozen member stays frozen without a read to the host."""

    def __init__(self, train_chunk, length: int, alive: jax.Array, images=None):
        super().__init__(train_chunk, length, images)
        self.alive = alive

    def run(self, state: GANState, chunk, count: int):
        (state, self.alive), metrics = super().run((state, self.alive), chunk, count)
        return state, metrics
