"""jaxgan and torch_ref side by side: one recipe, the same weights, batches, noise and masks.

jaxgan's step draws its own randomness from the step key, so the torch side is given exactly
what jaxgan drew:

  key = fold_in(state.rng, state.step)                                 (jaxgan.steps.step_key)
  z_key, g_z_key, drop_real, drop_fake, drop_g = jax.random.split(key, 5)   (jaxgan.steps)
  z = gan.sample_z(z_key, B); the G step's z is z ('same') or gan.sample_z(g_z_key, B)
  dropout masks: what flax's nn.Dropout draws inside D with rngs={'dropout': drop_*}, read out
  by intercepting the Dropout call (the mask depends only on the key and the module path).

With `record=True` both optimisers also record the gradients they were given: optax through a
pass-through wrapper that keeps the last two gradients in its state (the book's D steps twice a
step), torch through `Optimizer.register_step_pre_hook`. The wrapper can also scale the updates
to zero (torch: lr 0), so that a whole step runs at *fixed* weights: every loss and gradient of
the step, the G step's included, is then computed from the same converted weights.

Precision. `Twins(name, "float32")` is the real thing. `Twins(name, "float64")` runs the same
code in double precision on both sides (jax x64 with the state cast to float64, jaxgan's
float32 batch and noise cast exactly to float64; torch with float64 as its default dtype),
to follow a *trajectory*: in float32 two correct implementations part ways within a few
steps, because an activation within rounding distance of a ReLU kink (or a maxout tie) takes
the other branch in one of them, and Adam's first steps (update ~ lr * sign(g)) turn gradients
that are zero up to rounding into full +-lr steps. In float64 the rounding is 1e-16 and
neither happens, so what remains after 10 steps is any difference in *what* is computed.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxgan.steps
from jaxgan.interop import layouts, weights
from jaxgan.config import Config
from jaxgan.gan import GAN, GANState, build_gan, init_state
from jaxgan.interop.lockstep import dropout_masks, step_noise
from jaxgan.steps import step_key
from parity_tests.recipes import SEED, SETTINGS, load_recipe
from torch_ref import steps as torch_steps
from torch_ref.data import to_seed_batch


def recording(tx: optax.GradientTransformation, keep_previous: bool) -> optax.GradientTransformation:
    """`tx` with (previous gradient, last gradient, update scale) kept beside its state.

    The gradients are kept in float32 (enough for a 1e-4 comparison, half the memory of
    myfgan_celeba's float64 ones); the previous one only if `keep_previous` (the book's D
    steps twice a step), else an empty placeholder.
    """

    def keep(grads):
        return jax.tree_util.tree_map(lambda g: g.astype(jnp.float32), grads)

    def init(params):
        zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        return (tx.init(params), zeros if keep_previous else (), zeros, jnp.ones((), jnp.float32))

    def update(grads, state, params=None):
        inner, _, last, scale = state
        updates, inner = tx.update(grads, inner, params)
        updates = jax.tree_util.tree_map(lambda u: u * scale.astype(u.dtype), updates)
        return updates, (inner, last if keep_previous else (), keep(grads), scale)

    return optax.GradientTransformation(init, update)


def step_builder(gan: GAN):
    """jaxgan's step for the recipe's scheme (a missing scheme is a failure, not a skip)."""
    builders = getattr(jaxgan.steps, "STEP_BUILDERS", {"minibatch": jaxgan.steps.make_train_step})
    if gan.scheme not in builders:
        raise NotImplementedError(f"jaxgan.steps has no train step for train.scheme '{gan.scheme}'")
    return builders[gan.scheme](gan)


@dataclasses.dataclass
class Noise:
    z: np.ndarray  # (B, z_dim), the D step's
    g_z: Optional[np.ndarray]  # the G step's, None when it is z (seeds 000/002/003)
    masks: Optional[list[list[torch.Tensor]]]  # [real, fake, G step] x dropout layers, or None


# --- shared, once per computation -------------------------------------------------------------

def computation_key(name: str) -> str:
    """What decides the numbers a recipe computes in these tests (not its data or schedule):
    dcgan_celeba and dcgan_cifar10 share their networks, init and compiled steps."""
    c = load_recipe(name)
    parts = dict(model=c.model.model_dump(), loss=c.loss.model_dump(), optimizer=c.optimizer.model_dump(),
                 scheme=c.train.scheme, noise=c.train.generator_noise, scale=c.data.scale,
                 shape=SETTINGS[name].image_shape)
    return repr(sorted(parts.items()))


_INITS: dict[str, GANState] = {}
_TORCH_INITS: dict[tuple[str, str], tuple[torch.nn.Module, torch.nn.Module]] = {}
_STEPS: dict[tuple[str, bool], tuple[GAN, Any]] = {}


def jax_init(name: str) -> GANState:
    """jaxgan's freshly initialised weights (float32, seed SEED; opt_state None)."""
    key = computation_key(name)
    if key not in _INITS:
        state = init_state(build_gan(load_recipe(name), SETTINGS[name].image_shape), SEED)
        # the cache keeps weights only: every user draws its own optimiser state
        _INITS[key] = state.replace(g=state.g.replace(opt_state=None), d=state.d.replace(opt_state=None))
    return _INITS[key]


def torch_init(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torch_ref's (G, D) as the seed initialises them after torch.manual_seed(SEED). Read only:
    copy before running them (train-mode BatchNorm moves its statistics)."""
    from torch_ref import models

    key = (computation_key(name), models.seed_name(load_recipe(name)))  # 000 and 003: the same weights, two classes
    if key not in _TORCH_INITS:

        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)  # the seeds' dtype, whichever twin asks first
        try:
            torch.manual_seed(SEED)
            _TORCH_INITS[key] = models.build(load_recipe(name), SETTINGS[name].image_shape)
        finally:
            torch.set_default_dtype(previous)
    return _TORCH_INITS[key]


def gan_and_step(name: str, record: bool) -> tuple[GAN, Any]:
    """The recipe's GAN (with recording optimisers if `record`) and its jitted step; jit keeps
    one executable per precision and batch shape."""
    key = (computation_key(name), record)
    if key not in _STEPS:
        gan = build_gan(load_recipe(name), SETTINGS[name].image_shape)
        # the images' floats and the noise in the twins' precision: float64 under jax x64
        gan = dataclasses.replace(gan, to_float=_in_working_precision(gan.to_float),
                                  noise_prior=_in_working_precision(gan.noise_prior))
        if record:
            book = gan.scheme == "book"
            gan = dataclasses.replace(gan, g_tx=recording(gan.g_tx, False), d_tx=recording(gan.d_tx, book))
        # the state is donated: its buffers are reused for the new one (myfgan_celeba's float64
        # state is gigabytes)
        _STEPS[key] = (gan, jax.jit(step_builder(gan), donate_argnums=(0,)))
    return _STEPS[key]


def _in_working_precision(fn):
    """`fn` with its float32 result cast (exactly) to float64 while jax x64 is on (the float64
    twins), kept as it is otherwise."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs).astype(jax.dtypes.canonicalize_dtype(jnp.float64))

    return wrapper


def _cast_floats(tree, dtype, copy: bool = False):
    """Floating leaves as `dtype` (through numpy: no per-shape compilations); others kept."""

    def cast(a):
        if not jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating):
            return jnp.array(a) if copy else a
        return jnp.asarray(np.asarray(a).astype(dtype))

    return jax.tree_util.tree_map(cast, tree)


class Twins:
    """One recipe in both frameworks, starting from jaxgan's init converted to torch."""

    def __init__(self, name: str, dtype: str = "float32", record: bool = True):
        self.name = name
        self.dtype = dtype
        self.record = record
        self.config: Config = load_recipe(name)
        self.image_shape = SETTINGS[name].image_shape
        self.gan, self.jax_step = gan_and_step(name, record)
        self.layouts = layouts.net_layouts(self.config, self.image_shape)
        init = jax_init(name)
        ckpt = weights.to_torch(self.config, init, self.image_shape)
        with self.precision():
            # a copy in the working precision (the step donates, i.e. deletes, its input state);
            # optimiser states drawn afresh from it
            init = _cast_floats(init, jnp.float64 if dtype == "float64" else jnp.float32, copy=True)
            self.state: GANState = init.replace(
                g=init.g.replace(opt_state=self.gan.g_tx.init(init.g.params)),
                d=init.d.replace(opt_state=self.gan.d_tx.init(init.d.params)),
            )
            G, D = (copy.deepcopy(m).to(torch.get_default_dtype()) for m in torch_init(name))
            for net, module in (("generator", G), ("discriminator", D)):
                module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ckpt[net].items()})
            self.torch = torch_steps.build_gan(self.config, self.image_shape, nets=(G, D))
        self.torch_grads: dict[str, list[list[np.ndarray]]] = {"generator": [], "discriminator": []}
        self.record_torch_grads = record  # switched off after the steps whose gradients are compared
        if record:
            for net, o in (("generator", self.torch.g_opt), ("discriminator", self.torch.d_opt)):
                o.register_step_pre_hook(functools.partial(self._record, net))
        self._lr = {id(g): g["lr"] for o in (self.torch.g_opt, self.torch.d_opt) for g in o.param_groups}
        self.steps_taken = 0
        self._masks = None

    def close(self) -> None:
        """Drops both states now (the optimiser hooks make a reference cycle the GC frees late)."""
        self.state = None
        self.torch = None
        self.torch_grads = {}

    @contextlib.contextmanager
    def precision(self):
        """float32: nothing to do. float64: jax x64, jaxgan's float32 inputs cast, torch default float64."""
        if self.dtype == "float32":
            yield
            return
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            with jax.enable_x64(True):
                yield
        finally:
            torch.set_default_dtype(previous)

    def _record(self, net, optimizer, args, kwargs):
        if not self.record_torch_grads:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        self.torch_grads[net].append([np.zeros(tuple(p.shape), np.float32) if p.grad is None
                                      else p.grad.detach().numpy().astype(np.float32) for p in params])

    def set_learning(self, on: bool) -> None:
        """Off: the optimisers keep their state moving but leave the weights alone (jax: updates
        scaled by 0; torch: lr 0), so a step is computed at fixed weights."""
        assert self.record, "learning can be switched off only on recording twins"
        scale = 1.0 if on else 0.0

        def rescale(net):
            inner, prev, last, s = net.opt_state
            return net.replace(opt_state=(inner, prev, last, jnp.asarray(scale, s.dtype)))

        with self.precision():
            self.state = self.state.replace(g=rescale(self.state.g), d=rescale(self.state.d))
        for opt in (self.torch.g_opt, self.torch.d_opt):
            for group in opt.param_groups:
                group["lr"] = self._lr[id(group)] * scale

    # --- what jaxgan draws -------------------------------------------------------------------

    def noise(self, key, n: int) -> Noise:
        gan = self.gan
        drawn = step_noise(gan, key, n)  # what jaxgan's step draws from its key
        masks = None
        if any(isinstance(m, torch.nn.Dropout) for m in self.torch.discriminator.modules()):
            variables = {"params": self.state.d.params}
            if self.state.d.batch_stats:
                variables["batch_stats"] = self.state.d.batch_stats
            if self._masks is None:  # the masks depend on the keys and shapes only
                self._masks = jax.jit(lambda v, keys: [dropout_masks(
                    gan.discriminator, v, jnp.zeros((n, *self.image_shape), jnp.float32), k) for k in keys])
            per_call = self._masks(variables, drawn.keys)
            masks = [[torch.from_numpy(np.array(m)) for m in call] for call in per_call]
        return Noise(drawn.z, drawn.g_z, masks)

    # --- one step in both ----------------------------------------------------------------------

    def step(self, images_u8: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """One whole train step of both on the same uint8 (B, H, W, C) batch."""
        real = to_seed_batch(self.config, images_u8)  # torchvision's float32 (ToTensor follows the default dtype)
        with self.precision():
            key = step_key(self.state)
            noise = self.noise(key, len(images_u8))
            self.state, jax_metrics = self.jax_step(self.state, jnp.asarray(images_u8), key)
            real = real.to(torch.get_default_dtype())  # exact
            z = torch.from_numpy(np.array(noise.z))
            g_z = None if noise.g_z is None else torch.from_numpy(np.array(noise.g_z))
            torch_metrics = torch_steps.train_step(self.torch, real, z, g_z, noise.masks)
        self.steps_taken += 1
        return {k: float(v) for k, v in jax_metrics.items()}, torch_metrics

    # --- the two states in torch's layout --------------------------------------------------------

    def jax_state_dicts(self) -> dict[str, Any]:
        """jaxgan's params, BatchNorm statistics and Adam moments as torch_ref checkpoint arrays."""
        return weights.to_torch(self.config, self.state, self.image_shape)

    def torch_state_dicts(self) -> dict[str, Any]:
        t = self.torch
        return {
            "generator": {k: v.numpy() for k, v in t.generator.state_dict().items()},
            "discriminator": {k: v.numpy() for k, v in t.discriminator.state_dict().items()},
            "optimizer_g": t.g_opt.state_dict(),
            "optimizer_d": t.d_opt.state_dict(),
        }

    def jax_grads(self, net: str, which: int = -1) -> list[np.ndarray]:
        """The gradients jaxgan's optimiser of `net` got last (-1) or the time before (-2), torch layout."""
        opt_state = (self.state.g if net == "generator" else self.state.d).opt_state
        tree = opt_state[2] if which == -1 else opt_state[1]
        return [t.to_torch(np.asarray(weights.tree_get(tree, t.path))) for t in self.layouts[net].params]
