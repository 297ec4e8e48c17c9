"""The five kinds of parity check of SPEC.md, each returning the Measurements it made.

  shapes    jaxgan's param tree <-> torch_ref's state_dict one to one, shapes equal after the
            layout change; every layer's output shape equal
  init      each parameter tensor from the same distribution (mean, std, two-sample KS)
  losses    float32, at the converted initial weights: Loss_D, Loss_G, D(x), D(G(z)); the
            float32 gradients (reported)
  training  float64 (parity_tests/twins.py says why): the first step's gradients; params,
            Adam moments and BatchNorm statistics after 1 and N whole steps; then the trained
            generator converted to torch samples the same images (float32)
  pipeline  to_float vs ToTensor+Normalize, make_grid/to_uint8 vs torchvision's grid and
            save_image pixels, Resize+CenterCrop vs torchvision on real photos

Results are cached per process, so the tests and the report share one run of each.
"""

from __future__ import annotations

import copy
import functools
import gc
import io
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import torch
from PIL import Image
from scipy import stats

from jaxgan import images
from jaxgan.interop import weights
from jaxgan.interop.layouts import net_layouts
from jaxgan.data.pipeline import to_float, value_range
from jaxgan.run.progress import LOG_NAMES
from jaxgan.data.transforms import resize_center_crop_batch
from jaxgan.gan import build_gan
from jaxgan.steps import make_generate
from parity_tests import measure, twins
from parity_tests.measure import Measurement, rel_err, worst
from parity_tests.recipes import SETTINGS, TRAJECTORY_STEPS, load_recipe, network_images
from parity_tests.twins import Twins, jax_init
from torch_ref import gan_maxout_mnist
from torch_ref import models as torch_models
from torch_ref.data import to_seed_batch

NETS = ("generator", "discriminator")


def _nets(state) -> dict:
    return {"generator": state.g, "discriminator": state.d}


def torch_init(name: str) -> dict[str, torch.nn.Module]:
    """torch_ref's networks as the seed initialises them (torch.manual_seed(SEED)); read only."""
    return dict(zip(NETS, twins.torch_init(name)))


# --- (1) shapes ----------------------------------------------------------------------------------

def _leaf_paths(tree, prefix=()) -> dict[tuple[str, ...], tuple[int, ...]]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) or hasattr(v, "items"):
            out.update(_leaf_paths(v, prefix + (k,)))
        else:
            out[prefix + (k,)] = tuple(np.shape(v))
    return out


def _normal_shape(shape, nchw: bool) -> tuple[int, ...]:
    """A layer output's shape, NCHW made NHWC, without size-1 axes (the seeds' (B, 1, 100)
    noise and the book's unbatched tensors add or drop those)."""
    shape = tuple(shape)
    if nchw and len(shape) == 4:
        shape = (shape[0], shape[2], shape[3], shape[1])
    return tuple(s for s in shape if s != 1)


def _torch_layer_outputs(module: torch.nn.Module, x) -> dict[str, tuple[int, ...]]:
    shapes, handles = {}, []
    for name, m in module.named_modules():
        if name and (any(True for _ in m.parameters(recurse=False)) or isinstance(m, gan_maxout_mnist.Maxout)):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape))))
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    shapes[""] = tuple(out.shape)
    return shapes


def _jax_layer_outputs(module, variables, x, rng) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Every submodule's output shape, traced abstractly (jax.eval_shape: nothing is computed)."""
    out, state = jax.eval_shape(
        lambda v, x: module.apply(v, x, train=True, rngs={"dropout": rng}, capture_intermediates=True,
                                  mutable=["batch_stats", "intermediates"]), variables, x)
    shapes = {}

    def walk(tree, path):
        for k, v in tree.items():
            if k == "__call__":
                shapes[path] = tuple(v[0].shape)  # a tuple of the calls' outputs
            elif hasattr(v, "items"):
                walk(v, path + (k,))

    walk(state["intermediates"], ())
    shapes[()] = tuple(out.shape)
    return shapes


def _param_tree_problems(name: str) -> tuple[int, list[str]]:
    """(tensors compared, problems): jax leaves and torch keys one to one, shapes equal."""
    config, shape = load_recipe(name), SETTINGS[name].image_shape
    layouts, tnets, state = net_layouts(config, shape), torch_init(name), jax_init(name)
    problems, count = [], 0
    for net, ns in _nets(state).items():
        layout, sd = layouts[net], tnets[net].state_dict()
        trees = {"params": ns.params, "batch_stats": ns.batch_stats}
        jax_leaves = {(c,) + p for c in trees for p in _leaf_paths(trees[c])}
        mapped = {(t.collection,) + t.path for t in layout.tensors}
        problems += [f"{net} jax {'/'.join(p)} unmapped" for p in sorted(jax_leaves - mapped)]
        problems += [f"{net} jax {'/'.join(p)} missing" for p in sorted(mapped - jax_leaves)]
        problems += [f"{net} torch {k} unmapped" for k in sd if k not in layout.torch_keys()]
        problems += [f"{net} torch {k} missing" for k in layout.torch_keys() if k not in sd]
        for t in layout.tensors:
            count += 1
            if (t.collection,) + t.path in jax_leaves and t.torch_key in sd:
                jshape = np.shape(weights.tree_get(trees[t.collection], t.path))
                if t.torch_shape(jshape) != tuple(sd[t.torch_key].shape):
                    problems.append(f"{net} {t.torch_key} {tuple(sd[t.torch_key].shape)} vs {jshape}")
    return count, problems


def _layer_output_problems(name: str) -> tuple[int, list[str]]:
    """(layers compared, problems): each mapped module's output shape, torch vs jax, on the
    inputs each side's loop feeds (the seeds' (B, 1, 100) noise, (B, nz, 1, 1), flat rows,
    the book's unbatched tensors)."""
    config, shape = load_recipe(name), SETTINGS[name].image_shape
    layouts, tnets, state = net_layouts(config, shape), torch_init(name), jax_init(name)
    arch, book = config.model.arch, config.train.scheme == "book"
    b = max(2, config.train.batch_size)
    gan = build_gan(config, shape)
    rng = jax.random.PRNGKey(1)
    z = np.asarray(gan.sample_z(rng, b))
    images_u8 = network_images(name, b)
    problems, count = [], 0
    for net, module, ns in (("generator", gan.generator, state.g), ("discriminator", gan.discriminator, state.d)):
        variables = {"params": ns.params, **({"batch_stats": ns.batch_stats} if ns.batch_stats else {})}
        x = z if net == "generator" else np.asarray(to_float(images_u8, config.data.scale))
        jshapes = _jax_layer_outputs(module, variables, jnp.asarray(x), rng)
        if net == "generator":
            tx = torch.from_numpy(np.array(z))
            tx = tx.reshape(b, -1, 1, 1) if arch == "dcgan" else tx.reshape(b, 1, -1) if arch == "maxout" else tx
        else:
            tx = to_seed_batch(config, images_u8)
            tx = tx.reshape(b, -1) if arch != "dcgan" and not book else tx  # the seeds' images.reshape(B, -1)
        module_copy = copy.deepcopy(tnets[net])  # train-mode BatchNorm would move the shared init's stats
        tshapes = _torch_layer_outputs(module_copy, tx[0] if book else tx)
        if book:  # the book's nets see one unbatched image: compare one image's shapes
            jshapes = {k: v[1:] for k, v in jshapes.items()}
        pairs = {t.torch_key.rsplit(".", 1)[0]: t.path[:-1] for t in layouts[net].tensors}  # module <-> module
        pairs[""] = ()  # the network's output
        for tname, jpath in pairs.items():
            count += 1
            if tname not in tshapes or jpath not in jshapes:
                problems.append(f"{net} {tname or 'output'}: no output recorded")
                continue
            ts, js = _normal_shape(tshapes[tname], arch == "dcgan"), _normal_shape(jshapes[jpath], False)
            if tname == "" and arch != "dcgan":
                # the MLP seeds' nets output flat rows; jaxgan's G reshapes them to (H, W, C)
                lead = 0 if book else 1
                ts, js = ts[:lead] + (math.prod(ts[lead:]),), js[:lead] + (math.prod(js[lead:]),)
            if ts != js:
                problems.append(f"{net} {tname or 'output'}: torch {tshapes[tname]} vs jax {jshapes[jpath]}")
    return count, problems


@functools.lru_cache(maxsize=None)
def shapes(name: str) -> list[Measurement]:
    out = []
    for what, (count, problems) in (("param tree <-> state_dict ({} tensors)", _param_tree_problems(name)),
                                    ("layer output shapes ({} layers)", _layer_output_problems(name))):
        out.append(Measurement(name, "shapes", what.format(count) + ", mismatches", len(problems), 0,
                               problems[0] if problems else ""))
    return out


# --- (2) initialisation statistics --------------------------------------------------------------

POOL_BELOW = 200  # tensors smaller than this are pooled over extra seeds, to 2,000 values
POOL_MAX_REPS = 64
KS_MAX = 100_000


def _moments(x: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, std, standard error of the mean, standard error of the std) of a sample; the
    std's error from the sample kurtosis k: SE(s) = s * sqrt((k - 1) / 4n)."""
    n = x.size
    mean = float(np.mean(x, dtype=np.float64))
    c = x.astype(np.float64) - mean
    var = float(np.mean(c * c))
    if n < 2 or var == 0:
        return mean, 0.0, 0.0, 0.0
    kurt = float(np.mean((c * c) ** 2)) / var**2
    std = math.sqrt(var)
    return mean, std, std / math.sqrt(n), std * math.sqrt(max(kurt - 1.0, 0.0) / (4.0 * n))


def _subsample(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most KS_MAX values, drawn with a seeded generator (KS on 35M values is slow), without
    replacement: values drawn twice would add the tensor's own sampling noise to the test's,
    and KS would reject equal distributions far more often than its p-value says."""
    return x if x.size <= KS_MAX else x[rng.choice(x.size, KS_MAX, replace=False)]


def _pool_reps(n: int, owner: torch.nn.Module) -> int:
    """Extra seeds for a tensor of n values: up to 2,000 values, at most POOL_MAX_REPS seeds, and
    at most ~20M values redrawn (torch redraws the whole owning module to redraw its bias)."""
    owner_size = sum(p.numel() for p in owner.parameters())
    return max(2, min(POOL_MAX_REPS, math.ceil(2000 / n), 20_000_000 // owner_size))


def _jax_pooled(name: str, net: str, paths: list[tuple[str, ...]], reps: int) -> dict[tuple[str, ...], np.ndarray]:
    """`reps` more draws of the leaves at `paths` from the network's own initialiser (one jit;
    XLA drops the draws of every other leaf)."""
    config = load_recipe(name)
    shape = SETTINGS[name].image_shape
    gan = build_gan(config, shape)
    module = gan.generator if net == "generator" else gan.discriminator
    example = jnp.zeros((1, config.model.z_dim) if net == "generator" else (1, *shape), jnp.float32)

    def leaves(key):
        params = module.init({"params": key, "dropout": key}, example, train=False)["params"]
        return [weights.tree_get(params, p) for p in paths]

    keys = jax.random.split(jax.random.PRNGKey(10_000), reps)
    drawn = jax.jit(jax.vmap(leaves))(keys)
    return {p: np.asarray(d) for p, d in zip(paths, drawn)}


def _torch_pooled(name: str, net: str, torch_keys: list[str], reps: int) -> dict[str, np.ndarray]:
    config = load_recipe(name)
    module = torch_init(name)[net]
    out: dict[str, list[np.ndarray]] = {k: [] for k in torch_keys}
    owners = {k: k.rsplit(".", 1) for k in torch_keys}
    subs = {mod: copy.deepcopy(module.get_submodule(mod)) for mod, _ in owners.values()}
    for r in range(reps):
        torch.manual_seed(10_000 + r)
        for sub in subs.values():
            torch_models.reinit(sub, config)
        for k, (mod, leaf) in owners.items():
            out[k].append(getattr(subs[mod], leaf).detach().numpy().copy())
    return {k: np.stack(v) for k, v in out.items()}


@functools.lru_cache(maxsize=None)
def init(name: str) -> list[Measurement]:
    config = load_recipe(name)
    shape = SETTINGS[name].image_shape
    state = jax_init(name)
    layouts = net_layouts(config, shape)
    tnets = torch_init(name)
    rng = np.random.default_rng(0)
    z_means, z_stds, ps, constants = [], [], [], []
    for net, ns in _nets(state).items():
        sd = tnets[net].state_dict()
        trees = {"params": ns.params, "batch_stats": ns.batch_stats}
        samples = {}
        for t in layouts[net].tensors:
            samples[t.torch_key] = (t, np.asarray(weights.tree_get(trees[t.collection], t.path)).ravel(),
                                    sd[t.torch_key].numpy().ravel())
        # constant tensors (zero biases, unit scales, running statistics): equal exactly
        varying = {}
        for key, (t, j, tt) in samples.items():
            if j.size > 1 and np.all(j == j[0]) and np.all(tt == tt[0]):
                constants.append((f"{net} {key}", float(np.max(np.abs(j - tt)))))
            else:
                varying[key] = (t, j, tt)
        small = [k for k, (t, j, _) in varying.items() if j.size < POOL_BELOW and t.collection == "params"]
        reps = {k: _pool_reps(varying[k][1].size, tnets[net].get_submodule(k.rsplit(".", 1)[0])) for k in small}
        if small:
            jp = _jax_pooled(name, net, [varying[k][0].path for k in small], max(reps.values()))
            for k in small:
                t, j, tt = varying[k]
                tp = _torch_pooled(name, net, [k], reps[k])[k]
                varying[k] = (t, np.concatenate([j, jp[t.path][: reps[k]].ravel()]), np.concatenate([tt, tp.ravel()]))
        for key, (_, j, tt) in varying.items():
            (mj, sj, se_mj, se_sj), (mt, st, se_mt, se_st) = _moments(j), _moments(tt)
            se_mean, se_std = math.hypot(se_mj, se_mt), math.hypot(se_sj, se_st)
            z_means.append((f"{net} {key} (n={j.size})", abs(mj - mt) / se_mean if se_mean else 0.0))
            z_stds.append((f"{net} {key} (n={j.size})", abs(sj - st) / se_std if se_std else 0.0))
            p_value = stats.ks_2samp(_subsample(j, rng), _subsample(tt, rng)).pvalue
            ps.append((f"{net} {key} (n={j.size})", float(p_value)))
    zm, zm_at = worst(z_means)
    zs, zs_at = worst(z_stds)
    p_min, p_at = min(((p, k) for k, p in ps), default=(1.0, ""))
    c, c_at = worst(constants)
    return [
        Measurement(name, "init", f"|mean_jax - mean_torch| / SE ({len(z_means)} tensors)", zm, measure.INIT_Z, zm_at),
        Measurement(name, "init", "|std_jax - std_torch| / SE", zs, measure.INIT_Z, zs_at),
        Measurement(name, "init", "two-sample KS p-value, min", p_min, measure.INIT_P, p_at, at_least=True),
        Measurement(name, "init", f"constant tensors ({len(constants)}), max |diff|", c, 0.0, c_at),
    ]


# --- (3) losses and gradients, float32 ----------------------------------------------------------

def _grad_errors(tw: Twins) -> list[tuple[str, str, float, str]]:
    """(net, which, worst rel err, tensor) for the gradients of the last step."""
    rows = []
    for net in NETS:
        calls = tw.torch_grads[net]
        per_step = len(calls) // tw.steps_taken
        labels = ["real", "fake"] if per_step == 2 else [""]
        for i, label in enumerate(labels):
            jg = tw.jax_grads(net, which=-per_step + i)
            tg = calls[-per_step + i]
            names = [t.torch_key for t in tw.layouts[net].params]
            err, at = worst((n, rel_err(a, b)) for n, a, b in zip(names, jg, tg))
            rows.append((net, label, err, at))
    return rows


@functools.lru_cache(maxsize=None)
def losses(name: str) -> list[Measurement]:
    """float32, one step at the converted initial weights (learning switched off, so the G step's
    D is the same D), on the same batch, noise and masks: the losses and D outputs must agree to
    1e-5.

    The float32 gradients are reported, not held: in a network with ReLU-type kinks they are
    defined only up to which side of a kink an activation within rounding distance of it falls
    (torch's own float32 DCGAN gradient differs from its float64 one by up to ~3e-3). The
    gradients are held to 1e-4 in float64, in `training` (its first step).
    """
    tw = Twins(name, "float32")
    b = tw.config.train.batch_size
    tw.set_learning(False)
    images = network_images(name, b, seed=1)
    noise = tw.noise(twins.step_key(tw.state), b)  # what the step below draws
    jm, tm = tw.step(images)
    out = [Measurement(name, "losses", f"{LOG_NAMES[k]} (float32, batch {b}), |diff|", abs(jm[k] - tm[k]),
                       measure.LOSS_ABS) for k in LOG_NAMES]
    out += _grad_measurements(tw, "float32", b, tolerance=None)
    tw.close()
    gc.collect()
    out.append(torch_precision_gap(name, images, noise))
    return out


def _torch_step_grads(name: str, dtype: torch.dtype, images_u8: np.ndarray, noise: twins.Noise) -> list[np.ndarray]:
    """torch_ref's gradients of one step at jaxgan's converted initial weights (lr 0), in `dtype`."""
    from torch_ref import steps as torch_steps

    config, shape = load_recipe(name), SETTINGS[name].image_shape
    ckpt = weights.to_torch(config, jax_init(name), shape)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        G, D = (copy.deepcopy(m).to(dtype) for m in twins.torch_init(name))
        for net, module in (("generator", G), ("discriminator", D)):
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ckpt[net].items()})
        gan = torch_steps.build_gan(config, shape, nets=(G, D))
        grads: list[np.ndarray] = []
        for opt in (gan.g_opt, gan.d_opt):
            for group in opt.param_groups:
                group["lr"] = 0.0
            opt.register_step_pre_hook(lambda o, args, kwargs: grads.extend(
                p.grad.detach().numpy().astype(np.float64) for g in o.param_groups for p in g["params"]
                if p.grad is not None))
        as_t = lambda a: None if a is None else torch.from_numpy(np.array(a)).to(dtype)  # noqa: E731
        torch_steps.train_step(gan, to_seed_batch(config, images_u8).to(dtype), as_t(noise.z), as_t(noise.g_z),
                               noise.masks)
        return grads
    finally:
        torch.set_default_dtype(previous)


def torch_precision_gap(name: str, images_u8: np.ndarray, noise: twins.Noise) -> Measurement:
    """torch against itself: its float32 gradients of the float32 check's step against its
    float64 ones (the same weights, batch, noise and dropout masks). The float32
    jaxgan-vs-torch gradient rows are of this size."""
    b = len(images_u8)
    g32 = _torch_step_grads(name, torch.float32, images_u8, noise)
    g64 = _torch_step_grads(name, torch.float64, images_u8, noise)
    err = max(rel_err(a, c) for a, c in zip(g32, g64))
    return Measurement(name, "losses", f"torch's own grads, float32 vs float64 (batch {b}), max rel", err, None)


def _grad_measurements(tw: Twins, dtype: str, b: int, tolerance) -> list[Measurement]:
    out = []
    for net, label, err, at in _grad_errors(tw):
        what = {"generator": "G", "discriminator": "D"}[net] + (f" ({label} step)" if label else "")
        out.append(Measurement(tw.name, "losses", f"grad {what} ({dtype}, batch {b}), max rel", err, tolerance, at))
    return out


def converted_samples(tw: Twins) -> Measurement:
    """The generator jaxgan trained (the trajectory's, in float32), converted to torch_ref,
    samples the same images from the same z, both in eval mode (BatchNorm: the converted
    running statistics)."""
    config, shape = tw.config, tw.image_shape
    state = twins._cast_floats(tw.state, jnp.float32)
    ckpt = weights.to_torch(config, state, shape)
    G = copy.deepcopy(twins.torch_init(tw.name)[0]).to(torch.float32)  # the cache may hold float64 twins' dtype
    G.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ckpt["generator"].items()})
    torch_models.set_mode(G, False)
    n = 16 if config.model.arch != "mlp" or math.prod(shape) < 10_000 else 2
    z = np.asarray(tw.gan.sample_z(jax.random.PRNGKey(7), n))
    fake = np.asarray(make_generate(tw.gan)(state, jnp.asarray(z)))
    with torch.no_grad():
        if config.train.scheme == "book":
            t = np.stack([G(torch.from_numpy(np.array(zi))).numpy() for zi in z])
        else:
            tz = torch.from_numpy(np.array(z))
            t = G(tz.reshape(n, -1, 1, 1) if config.model.arch == "dcgan" else tz).numpy()
    if t.ndim == 4 and config.model.arch == "dcgan":
        t = t.transpose(0, 2, 3, 1)
    err = measure.abs_err(fake.reshape(n, -1), t.reshape(n, -1))
    return Measurement(tw.name, "convert", f"trained G converted to torch: G(z) eval, {n} images, max |diff|",
                       err, measure.LOSS_ABS)


# --- (4) training trajectory, float64 -----------------------------------------------------------

def _state_errors(tw: Twins) -> dict[str, Optional[tuple[float, str]]]:
    """Worst differences of params, BatchNorm statistics and counters, Adam moments and counts,
    tensor by tensor in torch's layout (one tensor converted at a time: myfgan_celeba's weigh
    hundreds of MB each in float64)."""
    params, bn, counters, moments, steps = [], [], [], [], []
    for net, ns, module, opt in (("generator", tw.state.g, tw.torch.generator, tw.torch.g_opt),
                                 ("discriminator", tw.state.d, tw.torch.discriminator, tw.torch.d_opt)):
        layout, sd = tw.layouts[net], module.state_dict()
        trees = {"params": ns.params, "batch_stats": ns.batch_stats}
        for t in layout.tensors:
            ours = t.to_torch(np.asarray(weights.tree_get(trees[t.collection], t.path)))
            err = rel_err(ours, sd[t.torch_key].numpy())
            (params if t.collection == "params" else bn).append((f"{net} {t.torch_key}", err))
        for key in layout.counters:
            counters.append((f"{net} {key}", abs(tw.steps_taken * layout.passes_per_step - int(sd[key]))))
        adam = weights.adam_state(ns.opt_state)
        tstate = opt.state_dict()["state"]
        for i, t in enumerate(layout.params):
            if not tstate.get(i):
                continue  # SGD keeps no state
            for name, tree in (("exp_avg", adam.mu), ("exp_avg_sq", adam.nu)):
                err = rel_err(t.to_torch(np.asarray(weights.tree_get(tree, t.path))), tstate[i][name].numpy())
                moments.append((f"{net} {t.torch_key} {name}", err))
            steps.append((f"{net} {t.torch_key} step", abs(int(adam.count) - float(tstate[i]["step"]))))
    return {key: (worst(values) if values else None) for key, values in
            (("params", params), ("bn", bn), ("counters", counters), ("moments", moments), ("count", steps))}


@functools.lru_cache(maxsize=None)
def training(name: str, steps: int = TRAJECTORY_STEPS) -> list[Measurement]:
    tw = Twins(name, "float64")
    b = SETTINGS[name].trajectory_batch
    batches = network_images(name, steps * b, seed=2)
    out: list[Measurement] = []
    metric_errs = []
    for step in range(1, steps + 1):
        jm, tm = tw.step(batches[(step - 1) * b : step * b])
        metric_errs += [(f"step {step} {LOG_NAMES[k]}", abs(jm[k] - tm[k])) for k in LOG_NAMES]
        if step == 1:  # the first step's gradients: at the initial weights (the G step: through the updated D)
            out += _grad_measurements(tw, "float64", b, measure.GRAD_REL)
            tw.record_torch_grads = False
            tw.torch_grads = {net: [] for net in NETS}
        if step in (1, steps):
            errs = _state_errors(tw)
            out.append(Measurement(name, "training", f"params after {step} step{'s' * (step > 1)} "
                                   f"(float64, batch {b}), max rel",
                                   *_tol(errs["params"], measure.STATE_REL)))
            if errs["bn"] is not None:
                out.append(Measurement(name, "training", f"BatchNorm running stats after {step}, max rel",
                                       *_tol(errs["bn"], measure.STATE_REL)))
                out.append(Measurement(name, "training", f"BatchNorm num_batches_tracked after {step}, |diff|",
                                       *_tol(errs["counters"], 0.0)))
            if errs["moments"] is not None:
                out.append(Measurement(name, "training", f"Adam exp_avg/exp_avg_sq (mu/nu) after {step}, max rel",
                                       *_tol(errs["moments"], measure.STATE_REL)))
                out.append(Measurement(name, "training", f"Adam step count after {step}, |diff|",
                                       *_tol(errs["count"], 0.0)))
    err, at = worst(metric_errs)
    out.append(Measurement(name, "training", f"losses and D outputs over {steps} steps, max |diff|",
                           err, measure.LOSS_ABS, at))
    out.append(converted_samples(tw))
    tw.close()
    gc.collect()
    return out


def _tol(value_at: tuple[float, str], tol: float) -> tuple[float, float, str]:
    value, at = value_at
    return value, tol, at


# --- (5) input pipeline -------------------------------------------------------------------------

def _photos() -> dict[str, np.ndarray]:
    """Real photographs (scikit-image's bundled samples), RGB uint8."""
    import skimage.data

    return {
        "astronaut": skimage.data.astronaut(),  # 512x512
        "astronaut_celeba_crop": skimage.data.astronaut()[40:258, 160:338],  # 218x178, CelebA's shape
        "chelsea": skimage.data.chelsea(),  # 300x451
        "coffee": skimage.data.coffee(),  # 400x600
    }


def _awkward_photos() -> dict[str, np.ndarray]:
    """Crops of the photos whose sizes make Resize's truncation and CenterCrop's rounding matter:
    100x105 resizes to 64x67 (a crop offset of 1.5, which round() takes to 2), 112x100 to 71x64
    (71.68 truncated: rounding would give 72)."""
    import skimage.data

    return {"astronaut_100x105": skimage.data.astronaut()[100:200, 150:255],
            "chelsea_112x100": skimage.data.chelsea()[50:162, 200:300]}


def _torchvision_png(fake: np.ndarray, value_range, nchw: bool) -> np.ndarray:
    """The pixels torchvision.utils.save_image writes for these images (through a real PNG)."""
    import torchvision.utils as vutils

    t = torch.from_numpy(fake.transpose(0, 3, 1, 2).copy() if not nchw else fake)
    buf = io.BytesIO()
    vutils.save_image(t, buf, format="png", nrow=8, padding=2, normalize=True, value_range=value_range)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@functools.lru_cache(maxsize=None)
def pipeline(name: str) -> list[Measurement]:
    config = load_recipe(name)
    h, w, c = SETTINGS[name].image_shape
    out = []

    # to_float vs the seed's tensors, on images holding every uint8 value
    u8 = network_images(name, 3)
    u8[0].reshape(-1)[:256] = np.arange(256, dtype=np.uint8)
    jax_f = np.asarray(jax.jit(lambda x: to_float(x, config.data.scale))(jnp.asarray(u8)))
    torch_f = to_seed_batch(config, u8).numpy()
    if torch_f.ndim == 4 and config.train.scheme != "book":
        torch_f = torch_f.transpose(0, 2, 3, 1)
    what = "book tensor / 255" if config.train.scheme == "book" else (
        "ToTensor+Normalize" if config.data.scale == "minus_one_one" else "ToTensor")
    out.append(Measurement(name, "pipeline", f"to_float (jit) vs {what}, max |diff|",
                           measure.abs_err(jax_f.reshape(3, -1), torch_f.reshape(3, -1)), 0.0))

    # make_grid + to_uint8 vs torchvision make_grid + save_image (PNG pixels)
    vrange = value_range(config.data.scale)
    n = config.train.num_samples
    rng = np.random.default_rng(3)
    fake = rng.uniform(vrange[0] - 0.2, vrange[1] + 0.2, size=(n, min(h, 64), min(w, 64), c)).astype(np.float32)
    fake[0, 0, :8, 0] = np.linspace(vrange[0], vrange[1], 8)  # exact edges and midpoints
    ours = images.to_uint8(images.make_grid(fake, nrow=8, padding=2, value_range=vrange))
    theirs = _torchvision_png(fake, vrange, nchw=False)
    diff = int(np.sum(ours != theirs)) if ours.shape == theirs.shape else ours.size
    out.append(Measurement(name, "pipeline", f"sample grid of {n} vs save_image PNG, differing pixels", diff, 0))

    # Resize + CenterCrop vs torchvision, on real photographs
    if config.data.image_size is not None:
        raw_h, raw_w, _ = SETTINGS[name].raw_shape
        worst_diff, at = 0.0, ""
        photos = {**_photos(), **_awkward_photos()}
        for pname, photo in photos.items():
            if pname in _awkward_photos():
                pass  # as they are: their sizes are the point
            elif (raw_h, raw_w) != (218, 178) or "celeba" not in pname:
                if raw_h < 100:  # CIFAR-10: a 32x32 photo, scaled up as Scale(64) does
                    photo = np.asarray(Image.fromarray(photo).resize((raw_w, raw_h), Image.BOX))
            raw = photo[None]
            jx = np.asarray(to_float(resize_center_crop_batch(raw, config.data.image_size), config.data.scale))
            tt = to_seed_batch(config, raw).numpy().transpose(0, 2, 3, 1)
            d = measure.abs_err(jx, tt)
            if not d <= worst_diff:
                worst_diff, at = d, pname
        out.append(Measurement(name, "pipeline", f"Resize({config.data.image_size})+CenterCrop on {len(photos)} "
                               "real photos vs torchvision, max |diff|", worst_diff, 0.0, at))
    return out


CHECK_FUNCTIONS = {"shapes": shapes, "init": init, "losses": losses, "training": training, "pipeline": pipeline}


def run(name: str, check: str) -> list[Measurement]:
    return CHECK_FUNCTIONS[check](name)


__all__ = ["CHECK_FUNCTIONS", "run", "shapes", "init", "losses", "training", "pipeline"]
