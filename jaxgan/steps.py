"""The pure training step of a minibatch GAN, and the jit-compiled chunk of steps around it.

One step is the seeds' iteration: a D update on a real batch (target 1) and a fake batch
G(z) (target 0, no gradient into G), then a G update through the *updated* D (target 1).
BatchNorm statistics move as they do in PyTorch train mode: G's once (one G(z) per step,
reused by the G update), D's three times (real, fake, fake again in the G update).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxgan.data.pipeline import to_float
from jaxgan.gan import GAN, GANState, NetState
from jaxgan.losses import CRITERIA

Metrics = dict[str, jax.Array]


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


def _update(tx: optax.GradientTransformation, net: NetState, grads, batch_stats) -> NetState:
    updates, opt_state = tx.update(grads, net.opt_state, net.params)
    return NetState(optax.apply_updates(net.params, updates), batch_stats, opt_state)


def make_train_step(gan: GAN) -> Callable[[GANState, Any, jax.Array], tuple[GANState, Metrics]]:
    """Builds `train_step(state, batch, key) -> (state, metrics)` for `gan`.

    `batch` is uint8 images (B, H, W, C); `key` supplies z and dropout masks. Metrics are the
    seeds' log: d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z)) before the D update,
    d_fake_after = mean D(G(z)) in the G update.
    """
    criterion = CRITERIA[gan.loss]
    G, D = gan.generator, gan.discriminator

    def train_step(state: GANState, batch, key) -> tuple[GANState, Metrics]:
        real = to_float(batch, gan.scale)
        n = real.shape[0]
        z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)
        z = gan.sample_z(z_key, n)

        # --- D step: G(z) is computed once; D sees it without a path back into G. With 'same'
        # noise the G step reuses this G(z), as the seeds do (their errG.backward() runs back
        # through the graph of `fake = netG(noise)`): jax.vjp keeps G's forward for that.
        same = gan.generator_noise == "same"

        def generate(g_params):
            return apply_net(G, g_params, state.g.batch_stats, z, train=True)

        fake, g_vjp, g_stats = jax.vjp(generate, state.g.params, has_aux=True)

        def d_loss_fn(d_params):
            p_real, stats = apply_net(D, d_params, state.d.batch_stats, real, train=True, rng=drop_real)
            p_fake, stats = apply_net(D, d_params, stats, fake, train=True, rng=drop_fake)
            loss = criterion(p_real, 1.0) + criterion(p_fake, 0.0)
            return loss, (stats, jnp.mean(p_real), jnp.mean(p_fake))

        (d_loss, (d_stats, d_real, d_fake)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            state.d.params
        )
        d = _update(gan.d_tx, state.d, d_grads, d_stats)

        # --- G step through the updated D.
        def g_objective(p):
            if gan.generator_loss == "non_saturating":
                return criterion(p, 1.0)
            return -criterion(p, 0.0)  # minimise log(1 - D(G(z))), Goodfellow's original minimax form

        if same:
            def d_on_fake(fake):
                p, new_d_stats = apply_net(D, d.params, d.batch_stats, fake, train=True, rng=drop_g)
                return g_objective(p), (new_d_stats, jnp.mean(p))

            (g_loss, (d_stats2, d_fake_after)), d_fake_grad = jax.value_and_grad(d_on_fake, has_aux=True)(fake)
            (g_grads,) = g_vjp(d_fake_grad)
            g_stats2 = g_stats  # G ran once: its running statistics moved once, as in PyTorch
        else:
            g_z = gan.sample_z(g_z_key, n)

            def g_loss_fn(g_params):
                fake, new_g_stats = apply_net(G, g_params, g_stats, g_z, train=True)
                p, new_d_stats = apply_net(D, d.params, d.batch_stats, fake, train=True, rng=drop_g)
                return g_objective(p), (new_g_stats, new_d_stats, jnp.mean(p))

            (g_loss, (g_stats2, d_stats2, d_fake_after)), g_grads = jax.value_and_grad(
                g_loss_fn, has_aux=True
            )(state.g.params)
        g = _update(gan.g_tx, state.g, g_grads, g_stats2)
        d = d.replace(batch_stats=d_stats2)

        metrics = dict(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake,
                       d_fake_after=d_fake_after)
        return state.replace(step=state.step + 1, g=g, d=d), metrics

    return train_step


def make_book_step(gan: GAN) -> Callable[[GANState, Any, jax.Array], tuple[GANState, Metrics]]:
    """Builds the book's step (seed 001, "Make Your First GAN With PyTorch").

    For each real image (a batch of one in the book) three optimiser steps, in this order:
    D.train(image, 1); D.train(G(fresh z).detach(), 0); G.train(D, another fresh z, 1).
    G's loss is D's loss function; only G's optimiser steps. Metrics: d_loss is the mean of
    the two D losses (the book records D's loss on every call), d_real = D(x) and
    d_fake = D(G(z)) as D saw them, d_fake_after = D(G(z')) in the G step.
    """
    criterion = CRITERIA[gan.loss]
    G, D = gan.generator, gan.discriminator

    def d_train(d: NetState, x, target, rng):
        def loss_fn(params):
            p, stats = apply_net(D, params, d.batch_stats, x, train=True, rng=rng)
            return criterion(p, target), (stats, jnp.mean(p))

        (loss, (stats, prob)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
        return _update(gan.d_tx, d, grads, stats), loss, prob

    def book_step(state: GANState, batch, key) -> tuple[GANState, Metrics]:
        real = to_float(batch, gan.scale)
        n = real.shape[0]
        z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)

        d, loss_real, d_real = d_train(state.d, real, 1.0, drop_real)
        fake, g_stats = apply_net(G, state.g.params, state.g.batch_stats, gan.sample_z(z_key, n), train=True)
        d, loss_fake, d_fake = d_train(d, jax.lax.stop_gradient(fake), 0.0, drop_fake)

        g_z = gan.sample_z(g_z_key, n)

        def g_loss_fn(g_params):
            fake, new_g_stats = apply_net(G, g_params, g_stats, g_z, train=True)
            p, new_d_stats = apply_net(D, d.params, d.batch_stats, fake, train=True, rng=drop_g)
            return criterion(p, 1.0), (new_g_stats, new_d_stats, jnp.mean(p))

        (g_loss, (g_stats, d_stats, d_fake_after)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            state.g.params
        )
        g = _update(gan.g_tx, state.g, g_grads, g_stats)
        metrics = dict(d_loss=(loss_real + loss_fake) / 2, g_loss=g_loss, d_real=d_real, d_fake=d_fake,
                       d_fake_after=d_fake_after)
        return state.replace(step=state.step + 1, g=g, d=d.replace(batch_stats=d_stats)), metrics

    return book_step


STEP_BUILDERS = {"minibatch": make_train_step, "book": make_book_step}


def step_key(state: GANState) -> jax.Array:
    """The key of the step about to run: a function of the run's key and the step alone."""
    return jax.random.fold_in(state.rng, state.step)


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

    def train_chunk(state: GANState, batches, count=None):
        if count is None:  # the whole chunk
            count = batches.shape[0]

        def step(state, batch):
            return train_step(state, batch, step_key(state))

        _, metric_shapes = jax.eval_shape(step, state, batches[0])
        end = state.step + count

        def body(state, batch):
            def skip(state, batch):
                return state, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metric_shapes)

            return jax.lax.cond(state.step < end, step, skip, state, batch)

        return jax.lax.scan(body, state, batches)

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())


def make_generate(gan: GAN):
    """jit-compiled sampler: z -> images in [-1, 1] (or [0, 1]), G in eval mode."""

    @jax.jit
    def generate(state: GANState, z):
        images, _ = apply_net(gan.generator, state.g.params, state.g.batch_stats, z, train=False)
        return images

    return generate
