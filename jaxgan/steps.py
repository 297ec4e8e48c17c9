"""The pure train steps of the two schemes, and the jit-compiled chunk of steps around them.

A step is the seeds' iteration, in their order:

  (1) Update D: maximise log(D(x)) + log(1 - D(G(z))): D on a real batch (target 1) and on
      G(z) (target 0, no gradient into G);
  (2) Update G: maximise log(D(G(z))) through the *updated* D (target 1).

The minibatch scheme (seeds 000, 002, 003, 004) takes one D step on real and fake together;
the book's scheme (seed 001) takes one D step per call, real then fake, then G on a fresh z.
Both are built from the same two updates below. BatchNorm statistics move as in PyTorch train
mode: with one G(z) a step (reused by the G update), G's once and D's three times.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.gan import GAN, GANState, NetState

Metrics = dict[str, jax.Array]
Step = Callable[[GANState, Any, jax.Array], tuple[GANState, Metrics]]


def apply_net(module, params, batch_stats, x, *, train: bool, rng=None):
    """Runs a network; returns (output, new batch_stats). Stats move only in train mode."""
    variables = {"params": params}
    if batch_stats:
        variables["batch_stats"] = batch_stats
    rngs = {"dropout": rng} if rng is not None else None
    if batch_stats and train:
        out, mutated = module.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
        return out, mutated["batch_stats"]
    return module.apply(variables, x, train=train, rngs=rngs), batch_stats


def apply_grads(tx: optax.GradientTransformation, net: NetState, grads, batch_stats) -> NetState:
    """One optimiser step of one network (optimizer.step())."""
    updates, opt_state = tx.update(grads, net.opt_state, net.params)
    return NetState(optax.apply_updates(net.params, updates), batch_stats, opt_state)


def update_d(gan: GAN, d: NetState, shown: Sequence[tuple[Any, float, Any]]):
    """(1) One optimiser step of D on `shown`, a list of (images, target, dropout key): the
    criterion summed over them (errD = errD_real + errD_fake), BatchNorm statistics moving
    through them in order. Returns (new D, loss, [mean D output per entry])."""
    def loss_fn(params):
        stats, losses, means = d.batch_stats, [], []
        for images, target, rng in shown:
            p, stats = apply_net(gan.discriminator, params, stats, images, train=True, rng=rng)
            losses.append(gan.criterion(p, target))
            means.append(jnp.mean(p))
        loss = sum(losses[1:], losses[0])  # errD_real + errD_fake
        return loss, (stats, means)

    (loss, (stats, means)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
    return apply_grads(gan.d_tx, d, grads, stats), loss, means


def update_g_fresh(gan: GAN, g: NetState, g_stats, d: NetState, z, rng):
    """(2) One optimiser step of G through D on a new G(z). Returns (new G, D's batch_stats,
    loss, mean D(G(z)))."""

    def loss_fn(g_params):
        fake, new_g_stats = apply_net(gan.generator, g_params, g_stats, z, train=True)
        p, new_d_stats = apply_net(gan.discriminator, d.params, d.batch_stats, fake, train=True, rng=rng)
        return gan.generator_objective(p), (new_g_stats, new_d_stats, jnp.mean(p))

    (loss, (g_stats, d_stats, mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
    return apply_grads(gan.g_tx, g, grads, g_stats), d_stats, loss, mean


def update_g_reusing(gan: GAN, g: NetState, g_vjp, g_stats, d: NetState, fake, rng):
    """(2) One optimiser step of G through D on the D step's own G(z), as the seeds'
    errG.backward() runs back through the graph of `fake = netG(noise)`: G ran forward once, so
    its running statistics moved once. Returns what update_g_fresh returns."""

    def d_on_fake(fake):
        p, new_d_stats = apply_net(gan.discriminator, d.params, d.batch_stats, fake, train=True, rng=rng)
        return gan.generator_objective(p), (new_d_stats, jnp.mean(p))

    (loss, (d_stats, mean)), fake_grad = jax.value_and_grad(d_on_fake, has_aux=True)(fake)
    (grads,) = g_vjp(fake_grad)
    return apply_grads(gan.g_tx, g, grads, g_stats), d_stats, loss, mean


def make_train_step(gan: GAN) -> Step:
    """Builds the minibatch `train_step(state, batch, key) -> (state, metrics)` for `gan`.

    `batch` is uint8 images (B, H, W, C); `key` supplies z and dropout masks. Metrics are the
    seeds' log: d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z)) before the D update,
    d_fake_after = mean D(G(z)) in the G update.
    """

    # generator_noise, settled here: the G step runs back through the D step's G(z) ('same',
    # the seeds' errG.backward()) or makes a new G(z) from another z ('fresh')
    if gan.generator_noise == "same":
        def update_g(g, g_vjp, g_stats, d, fake, g_z_key, rng):
            return update_g_reusing(gan, g, g_vjp, g_stats, d, fake, rng)
    else:
        def update_g(g, g_vjp, g_stats, d, fake, g_z_key, rng):
            return update_g_fresh(gan, g, g_stats, d, gan.sample_z(g_z_key, fake.shape[0]), rng)

    def train_step(state: GANState, batch, key) -> tuple[GANState, Metrics]:
        real = gan.to_float(batch)
        n = real.shape[0]
        z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)
        z = gan.sample_z(z_key, n)

        def generate(g_params):
            return apply_net(gan.generator, g_params, state.g.batch_stats, z, train=True)

        # jax.vjp keeps G's forward, for the G update to run back through (generator_noise: same)
        fake, g_vjp, g_stats = jax.vjp(generate, state.g.params, has_aux=True)

        # (1) Update D on the real batch and on G(z), which D sees without a path back into G
        d, d_loss, (d_real, d_fake) = update_d(gan, state.d, [(real, 1.0, drop_real), (fake, 0.0, drop_fake)])

        # (2) Update G through the updated D
        g, d_stats, g_loss, d_fake_after = update_g(state.g, g_vjp, g_stats, d, fake, g_z_key, drop_g)

        metrics = dict(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake, d_fake_after=d_fake_after)
        return state.replace(step=state.step + 1, g=g, d=d.replace(batch_stats=d_stats)), metrics

    return train_step


def make_book_step(gan: GAN) -> Step:
    """Builds the book's step (seed 001, "Make Your First GAN With PyTorch").

    For each real image (a batch of one in the book) three optimiser steps, in this order:
    D.train(image, 1); D.train(G(fresh z).detach(), 0); G.train(D, another fresh z, 1).
    Metrics: d_loss is the mean of the two D losses (the book records D's loss on every call),
    d_real = D(x) and d_fake = D(G(z)) as D saw them, d_fake_after = D(G(z')) in the G step.
    """

    def book_step(state: GANState, batch, key) -> tuple[GANState, Metrics]:
        real = gan.to_float(batch)
        n = real.shape[0]
        z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)

        # (1) Update D: once on the real image, once on a detached G(z)
        d, loss_real, (d_real,) = update_d(gan, state.d, [(real, 1.0, drop_real)])
        fake, g_stats = apply_net(gan.generator, state.g.params, state.g.batch_stats, gan.sample_z(z_key, n),
                                  train=True)
        d, loss_fake, (d_fake,) = update_d(gan, d, [(jax.lax.stop_gradient(fake), 0.0, drop_fake)])

        # (2) Update G through the updated D, on another fresh z
        g, d_stats, g_loss, d_fake_after = update_g_fresh(gan, state.g, g_stats, d, gan.sample_z(g_z_key, n), drop_g)

        metrics = dict(d_loss=(loss_real + loss_fake) / 2, g_loss=g_loss, d_real=d_real, d_fake=d_fake,
                       d_fake_after=d_fake_after)
        return state.replace(step=state.step + 1, g=g, d=d.replace(batch_stats=d_stats)), metrics

    return book_step


STEP_BUILDERS = {"minibatch": make_train_step, "book": make_book_step}


def step_key(state: GANState) -> jax.Array:
    """The key of the step about to run: a function of the run's key and the step alone."""
    return jax.random.fold_in(state.rng, state.step)


def _scan_steps(step, state: GANState, xs, count):
    """scan(step) over `xs` (one entry per step); steps past the first `count` leave the
    state as it is and give zero metrics."""
    _, metric_shapes = jax.eval_shape(step, state, jax.tree.map(lambda x: x[0], xs))
    end = state.step + count

    def body(state, x):
        def skip(state, x):
            return state, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metric_shapes)

        return jax.lax.cond(state.step < end, step, skip, state, x)

    return jax.lax.scan(body, state, xs)


def make_train_chunk(gan: GAN, donate: bool = False):
    """jit(scan(train_step)) over a chunk of batches (K, B, H, W, C) already on the device.

    `train_chunk(state, batches, count=K)` runs the first `count` steps of the chunk (a traced
    value; the remaining batches are never used and leave the state as it is), so a chunk cut
    short by an event (an epoch end, a checkpoint) runs the same compiled program as a full
    one: each new scan length would otherwise be a new compilation, about 15 s for DCGAN on a
    GPU. Returns `(state, metrics)` with each metric stacked to shape (K,); entries past
    `count` are zeros.
    """
    train_step = STEP_BUILDERS[gan.scheme](gan)

    def step(state, batch):
        return train_step(state, batch, step_key(state))

    def train_chunk(state: GANState, batches, count=None):
        return _scan_steps(step, state, batches, batches.shape[0] if count is None else count)

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())


def make_gather_chunk(gan: GAN, donate: bool = False):
    """make_train_chunk for images kept on the device: `train_chunk(state, images, indices,
    count=K)` with uint8 `images` (N, H, W, C) and int32 `indices` (K, B), each step's batch
    `images[indices[k]]` gathered inside the compiled program. The same steps on the same
    batches as make_train_chunk's; the indices of steps past `count` only need to be valid."""
    train_step = STEP_BUILDERS[gan.scheme](gan)

    def train_chunk(state: GANState, images, indices, count=None):
        def step(state, index):
            return train_step(state, jnp.take(images, index, axis=0), step_key(state))

        return _scan_steps(step, state, indices, indices.shape[0] if count is None else count)

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())


class ChunkRunner:
    """Runs chunks of up to `length` steps, all through one compiled chunk function.

    Streamed (`images` None): `train_chunk` is make_train_chunk's, and each chunk is its
    uint8 batches; a chunk cut short by an event is padded to `length` batches on the host
    (`pad`). Images on the device: `train_chunk` is make_gather_chunk's, bound here to the
    `images` put on the device once, and each chunk is its int32 indices. Either way only
    `count` steps run, and the metrics come back trimmed to those steps (`run`).
    """

    def __init__(self, train_chunk, length: int, images=None):
        self.train_chunk, self.length, self.images = train_chunk, length, images

    def pad(self, batches: np.ndarray) -> np.ndarray:
        """The chunk's uint8 batches (count, B, H, W, C), padded with zeros to `length`."""
        if len(batches) == self.length:
            return batches
        filler = np.zeros((self.length - len(batches), *batches.shape[1:]), batches.dtype)
        return np.concatenate([batches, filler])

    def run(self, state: GANState, chunk, count: int) -> tuple[GANState, Metrics]:
        """`count` steps on a whole chunk (batches, or indices) already on the device;
        metrics of shape (count,)."""
        data = (chunk,) if self.images is None else (self.images, chunk)
        state, metrics = self.train_chunk(state, *data, count)
        if count < self.length:
            metrics = {k: v[:count] for k, v in metrics.items()}
        return state, metrics


def make_generate(gan: GAN):
    """jit-compiled sampler: z -> images in [-1, 1] (or [0, 1]), G in eval mode."""

    @jax.jit
    def generate(state: GANState, z):
        images, _ = apply_net(gan.generator, state.g.params, state.g.batch_stats, z, train=False)
        return images

    return generate
