"""Weights and optimiser state between jaxgan and PyTorch (torch_ref), in both directions.

A torch checkpoint here is what `torch_ref.train` saves (and loads with `weights_only=True`):

    {"generator": G.state_dict(), "discriminator": D.state_dict(),
     "optimizer_g": opt_g.state_dict(), "optimizer_d": opt_d.state_dict(),
     "step": int, "recipe": str}

or the seeds' own files, one bare state_dict per network (`torch.save(netG.state_dict(),
'netG.pth')`): `read_torch_files` reads either into that structure (a missing discriminator or
optimiser state is initialised fresh), `write_seed_files` writes netG.pth and netD.pth back as
the seeds save them. `to_torch` and `from_torch` work on the structure with numpy arrays (any
array-like is accepted, torch tensors included), so they need no torch; the file functions
import torch (and, for `write_seed_files`, the seeds' classes in torch_ref) only when called.

Layout changes (the same as jaxgan/models/layers.py documents):

  torch                                     jaxgan                                   change
  Linear.weight (out, in)                   Dense kernel (in, out)                   W.T
  Conv2d.weight (out, in, kh, kw)           TorchConv2d kernel (kh, kw, in, out)     W.transpose(2, 3, 1, 0)
  ConvTranspose2d.weight (in, out, kh, kw)  TorchConvTranspose2d kernel              W.transpose(2, 3, 1, 0)
                                              (kh, kw, out, in)
  Linear.bias, LayerNorm weight / bias      bias, LayerNorm scale / bias             -
  BatchNorm weight / bias                   TorchBatchNorm params scale / bias       -
  BatchNorm running_mean / running_var      TorchBatchNorm batch_stats mean / var    -
  BatchNorm num_batches_tracked             (none: never read with momentum 0.1; written back as
                                            the count torch would have: G 1, D 3 per step)
  Adam exp_avg / exp_avg_sq / step          ScaleByAdamState mu / nu / count         as the parameter

Which torch key is which jaxgan variable (each recipe's torch_ref modules, see `net_layouts`):

  seed 002 (mlp)        {i}.weight/bias: Sequential index i = fc{k} (and norm{k})
  seed 004 (maxout)     linear_{k}, max_{k}.linear, linear = the same names in jaxgan
  seeds 000/003 (dcgan) main.{i}.*: convt{i} / conv{i} / bn{i}
  seed 001 (book)       model.{i}.*: as 002 inside the book's `model` Sequential; the CelebA
                        discriminator starts with View, which shifts its indices by one
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.config import Config, NetConfig, OptimizerConfig
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, NetState, build_gan, init_state

NETS = ("generator", "discriminator")
OPTIMIZER_KEYS = {"generator": "optimizer_g", "discriminator": "optimizer_d"}

# torch layout -> jaxgan layout. Both conv layouts are the same permutation.
_TO_JAX = {"linear": (1, 0), "conv": (2, 3, 1, 0), "conv_transpose": (2, 3, 1, 0), "same": None}


@dataclasses.dataclass(frozen=True)
class TensorMap:
    """One torch state_dict entry and the jaxgan variable it is."""

    torch_key: str  # e.g. "main.3.weight"
    collection: str  # "params" | "batch_stats"
    path: tuple[str, ...]  # e.g. ("convt3", "kernel")
    layout: str  # "linear" | "conv" | "conv_transpose" | "same"

    def to_jax(self, array) -> np.ndarray:
        perm = _TO_JAX[self.layout]
        a = np.asarray(array)
        return a if perm is None else np.ascontiguousarray(a.transpose(perm))

    def to_torch(self, array) -> np.ndarray:
        perm = _TO_JAX[self.layout]
        a = np.asarray(array)
        return a if perm is None else np.ascontiguousarray(a.transpose(np.argsort(perm)))

    def torch_shape(self, jax_shape) -> tuple[int, ...]:
        perm = _TO_JAX[self.layout]
        return tuple(jax_shape) if perm is None else tuple(jax_shape[i] for i in np.argsort(perm))


@dataclasses.dataclass(frozen=True)
class NetLayout:
    """A network's whole state_dict: parameters in torch's `parameters()` order, then buffers."""

    params: tuple[TensorMap, ...]  # optimiser state index i is params[i]
    buffers: tuple[TensorMap, ...]
    counters: tuple[str, ...]  # BatchNorm num_batches_tracked keys
    passes_per_step: int  # train-mode forward passes per step (what num_batches_tracked counts)
    order: tuple[str, ...] = ()  # torch's state_dict order, when not params then buffers

    @property
    def tensors(self) -> tuple[TensorMap, ...]:
        return self.params + self.buffers

    def torch_keys(self) -> list[str]:
        """Every state_dict key, in the order torch's state_dict() lists them."""
        return list(self.order) or [t.torch_key for t in self.tensors] + list(self.counters)


# --- which torch key is which jaxgan variable ------------------------------------------------

def _linear(prefix: str, name: str) -> list[TensorMap]:
    return [TensorMap(f"{prefix}.weight", "params", (name, "kernel"), "linear"),
            TensorMap(f"{prefix}.bias", "params", (name, "bias"), "same")]


def _mlp(net: NetConfig, prefix: str, offset: int) -> NetLayout:
    """Linear [act] [LayerNorm] per hidden width, then Linear [output]: Sequential indices."""
    stride = 1 + (net.activation != "none") + (net.norm == "layernorm")
    params: list[TensorMap] = []
    for k in range(len(net.hidden)):
        i = offset + k * stride
        params += _linear(f"{prefix}{i}", f"fc{k}")
        if net.norm == "layernorm":
            j = i + stride - 1
            params += [TensorMap(f"{prefix}{j}.weight", "params", (f"norm{k}", "scale"), "same"),
                       TensorMap(f"{prefix}{j}.bias", "params", (f"norm{k}", "bias"), "same")]
    params += _linear(f"{prefix}{offset + len(net.hidden) * stride}", f"fc{len(net.hidden)}")
    return NetLayout(tuple(params), (), (), 1)


def _maxout(config: Config) -> dict[str, NetLayout]:
    g, d = config.model.generator, config.model.discriminator
    g_params = [t for k in range(len(g.hidden) + 1) for t in _linear(f"linear_{k + 1}", f"linear_{k + 1}")]
    d_params = [t for k in range(len(d.hidden)) for t in _linear(f"max_{k + 1}.linear", f"max_{k + 1}")]
    d_params = [dataclasses.replace(t, path=(t.path[0], "linear", t.path[1])) for t in d_params]
    d_params += _linear("linear", "linear")
    return {"generator": NetLayout(tuple(g_params), (), (), 1), "discriminator": NetLayout(tuple(d_params), (), (), 1)}


def _conv_net(kinds: list[tuple[int, str]], passes: int) -> NetLayout:
    """`main` Sequential of (index, 'conv' | 'conv_transpose' | 'bn') entries, bias-free convs."""
    params, buffers, counters, order = [], [], [], []
    for i, kind in kinds:
        key = f"main.{i}"
        if kind == "bn":
            params += [TensorMap(f"{key}.weight", "params", (f"bn{i}", "scale"), "same"),
                       TensorMap(f"{key}.bias", "params", (f"bn{i}", "bias"), "same")]
            buffers += [TensorMap(f"{key}.running_mean", "batch_stats", (f"bn{i}", "mean"), "same"),
                        TensorMap(f"{key}.running_var", "batch_stats", (f"bn{i}", "var"), "same")]
            counters.append(f"{key}.num_batches_tracked")
            order += [f"{key}.{n}" for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
        else:
            name = ("convt" if kind == "conv_transpose" else "conv") + str(i)
            params.append(TensorMap(f"{key}.weight", "params", (name, "kernel"), kind))
            order.append(f"{key}.weight")
    # torch's state_dict lists each module's parameters then its buffers, module by module;
    # the optimiser's index counts parameters only (params).
    return NetLayout(tuple(params), tuple(buffers), tuple(counters), passes, tuple(order))


def _dcgan() -> dict[str, NetLayout]:
    g = [(0, "conv_transpose"), (1, "bn"), (3, "conv_transpose"), (4, "bn"), (6, "conv_transpose"),
         (7, "bn"), (9, "conv_transpose"), (10, "bn"), (12, "conv_transpose")]
    d = [(0, "conv"), (2, "conv"), (3, "bn"), (5, "conv"), (6, "bn"), (8, "conv"), (9, "bn"), (11, "conv")]
    # BatchNorm statistics move once per step in G (one G(z), reused) and three times in D.
    return {"generator": _conv_net(g, 1), "discriminator": _conv_net(d, 3)}


def net_layouts(config: Config, image_shape: tuple[int, int, int]) -> dict[str, NetLayout]:
    """The torch_ref state_dict of each network of `config`, as jaxgan variables."""
    arch, book = config.model.arch, config.train.scheme == "book"
    if arch == "dcgan":
        return _dcgan()
    if arch == "maxout":
        return _maxout(config)
    if arch == "mlp" and not book:
        return {"generator": _mlp(config.model.generator, "", 0),
                "discriminator": _mlp(config.model.discriminator, "", 0)}
    if arch == "mlp":
        # The book's CelebA D begins with View(218*178*3) (torch_ref/myfgan_celeba.py).
        view = 1 if image_shape[-1] > 1 else 0
        return {"generator": _mlp(config.model.generator, "model.", 0),
                "discriminator": _mlp(config.model.discriminator, "model.", view)}
    raise JaxganError(f"model.arch '{arch}' has no torch layout")


# Image shapes of the seeds' datasets, for converting without reading the data.
DATASET_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3), "celeba": (218, 178, 3)}


def recipe_image_shape(config: Config) -> tuple[int, int, int]:
    """(H, W, C) of the images a recipe trains on: data.image_size if set, else the dataset's."""
    c = config.data.channels
    if config.data.image_size is not None:
        return (config.data.image_size, config.data.image_size, c)
    if config.data.dataset not in DATASET_SHAPES:
        raise JaxganError(
            f"data.dataset '{config.data.dataset}': image size unknown without reading the data; set data.image_size"
        )
    h, w, _ = DATASET_SHAPES[config.data.dataset]
    return (h, w, c)


# --- small tree helpers ----------------------------------------------------------------------

def tree_get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


def _set(tree: dict, path, value) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def adam_state(opt_state) -> Optional[optax.ScaleByAdamState]:
    if isinstance(opt_state, optax.ScaleByAdamState):
        return opt_state
    if isinstance(opt_state, tuple):
        for child in opt_state:
            found = adam_state(child)
            if found is not None:
                return found
    return None


def _replace_adam(opt_state, new: optax.ScaleByAdamState):
    if isinstance(opt_state, optax.ScaleByAdamState):
        return new
    if isinstance(opt_state, tuple):
        children = [_replace_adam(c, new) for c in opt_state]
        return type(opt_state)(*children) if hasattr(opt_state, "_fields") else tuple(children)
    return opt_state


def torch_param_groups(cfg: OptimizerConfig, count: int) -> list[dict[str, Any]]:
    """`param_groups` of torch's Adam / SGD state_dict for the recipe's settings (torch 2.x keys)."""
    if cfg.name == "adam":
        group = dict(lr=cfg.lr, betas=(cfg.b1, cfg.b2), eps=cfg.eps, weight_decay=0, amsgrad=False,
                     maximize=False, foreach=None, capturable=False, differentiable=False, fused=None,
                     decoupled_weight_decay=False)
    else:
        group = dict(lr=cfg.lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False,
                     foreach=None, differentiable=False, fused=None)
    return [dict(group, params=list(range(count)))]


# --- jaxgan -> torch ---------------------------------------------------------------------------

def net_to_torch(layout: NetLayout, net: NetState, step: int,
                 counted: Optional[Mapping[str, int]] = None, since: int = 0) -> "OrderedDict[str, np.ndarray]":
    """One network's state_dict (numpy arrays) from its jaxgan params and batch_stats.

    num_batches_tracked: `counted` (what a converted torch file held at step `since`) plus the
    passes of the steps since, or the count torch would have after `step` steps.
    """
    values: dict[str, np.ndarray] = {}
    trees = {"params": net.params, "batch_stats": net.batch_stats}
    for t in layout.tensors:
        values[t.torch_key] = t.to_torch(_numpy(tree_get(trees[t.collection], t.path)))
    for key in layout.counters:
        start = (counted or {}).get(key)
        count = step * layout.passes_per_step if start is None else start + (step - since) * layout.passes_per_step
        values[key] = np.asarray(count, np.int64)
    return OrderedDict((key, values[key]) for key in layout.torch_keys())


def optimizer_to_torch(layout: NetLayout, net: NetState, cfg: OptimizerConfig) -> dict[str, Any]:
    """The torch optimiser's state_dict from an optax state (Adam moments; SGD has none)."""
    state: dict[int, dict[str, np.ndarray]] = {}
    adam = adam_state(net.opt_state)
    if cfg.name == "adam" and adam is not None and int(adam.count) > 0:
        for i, t in enumerate(layout.params):
            state[i] = {"step": np.asarray(float(adam.count), np.float32),
                        "exp_avg": t.to_torch(_numpy(tree_get(adam.mu, t.path))),
                        "exp_avg_sq": t.to_torch(_numpy(tree_get(adam.nu, t.path)))}
    return {"state": state, "param_groups": torch_param_groups(cfg, len(layout.params))}


def to_torch(config: Config, state: GANState, image_shape: tuple[int, int, int],
             counters: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """A whole torch_ref checkpoint (numpy arrays) from a GANState.

    counters: the BatchNorm counts of the torch files the state was converted from
    (`torch_counters`, kept in the checkpoint's metadata), so a round trip gives them back.
    """
    layouts = net_layouts(config, image_shape)
    step = int(state.step)
    nets = {"generator": state.g, "discriminator": state.d}
    opts = {"generator": config.optimizer.generator, "discriminator": config.optimizer.discriminator}
    out: dict[str, Any] = {"recipe": config.name, "step": step}
    counters = counters or {}
    for name in NETS:
        out[name] = net_to_torch(layouts[name], nets[name], step, counters.get(name), int(counters.get("step", 0)))
        out[OPTIMIZER_KEYS[name]] = optimizer_to_torch(layouts[name], nets[name], opts[name])
    return out


# --- torch -> jaxgan ---------------------------------------------------------------------------

def check_state_dict(layout: NetLayout, template: NetState, sd: Mapping[str, Any], what: str, source: str) -> None:
    """Refuses a state_dict that is not this recipe's network, naming the first bad tensor."""
    trees = {"params": template.params, "batch_stats": template.batch_stats}
    for t in layout.tensors:
        expected = t.torch_shape(np.shape(tree_get(trees[t.collection], t.path)))
        if t.torch_key not in sd:
            first = next(iter(sd), None)
            found = (f"; its first tensor is '{first}' with shape {tuple(np.shape(_numpy(sd[first])))}"
                     if first is not None else "; it holds no tensors")
            raise JaxganError(f"{source}: {what} has no tensor '{t.torch_key}' (the recipe expects shape {expected})"
                              f"{found}: a state_dict of another network, or of another recipe")
        got = tuple(np.shape(_numpy(sd[t.torch_key])))
        if got != expected:
            raise JaxganError(f"{source}: {what} tensor '{t.torch_key}' has shape {got}, the recipe expects {expected}")
    known = set(layout.torch_keys())
    extra = [k for k in sd if k not in known]
    if extra:
        raise JaxganError(f"{source}: {what} has tensor '{extra[0]}', which this recipe's network does not have")


def net_from_torch(layout: NetLayout, template: NetState, sd: Mapping[str, Any]) -> NetState:
    """params and batch_stats from a state_dict (already checked), template's opt_state kept."""
    trees: dict[str, dict] = {"params": {}, "batch_stats": {}}
    for t in layout.tensors:
        _set(trees[t.collection], t.path, jnp.asarray(t.to_jax(_numpy(sd[t.torch_key]))))
    batch_stats = trees["batch_stats"] if template.batch_stats else template.batch_stats
    return NetState(params=trees["params"], batch_stats=batch_stats, opt_state=template.opt_state)


def optimizer_from_torch(layout: NetLayout, net: NetState, osd: Optional[Mapping[str, Any]],
                         tx: optax.GradientTransformation, source: str, what: str) -> Any:
    """The optax state: Adam's moments converted where torch has them, else freshly initialised."""
    opt_state = tx.init(net.params)
    adam = adam_state(opt_state)
    if adam is None or not osd or not osd.get("state"):
        return opt_state
    state = osd["state"]
    if len(state) != len(layout.params):
        raise JaxganError(f"{source}: {what} holds state for {len(state)} parameters, "
                          f"the recipe has {len(layout.params)}")
    mu, nu, steps = {}, {}, set()
    for i, t in enumerate(layout.params):
        entry = state[i] if i in state else state[str(i)]
        for name, tree in (("exp_avg", mu), ("exp_avg_sq", nu)):
            value = _numpy(entry[name])
            expected = t.torch_shape(np.shape(tree_get(net.params, t.path)))
            if value.shape != expected:
                raise JaxganError(f"{source}: {what} {name} of '{t.torch_key}' has shape {value.shape}, "
                                  f"the recipe expects {expected}")
            _set(tree, t.path, jnp.asarray(t.to_jax(value)))
        steps.add(int(_numpy(entry["step"])))
    count = jnp.asarray(max(steps), jnp.int32)
    return _replace_adam(opt_state, optax.ScaleByAdamState(count=count, mu=mu, nu=nu))


def from_torch(config: Config, checkpoint: Mapping[str, Any], image_shape: tuple[int, int, int],
               seed: Optional[int] = None, source: str | Mapping[str, str] = "<checkpoint>",
               template: Optional[GANState] = None) -> GANState:
    """A GANState from a torch_ref checkpoint, its step and RNG as a jaxgan run of `seed` has.

    Optimiser states are converted where the checkpoint has them (Adam's moments and step),
    and freshly initialised otherwise (SGD, the seeds' bare state_dicts, or a checkpoint saved
    before any step). Without a 'discriminator' (a seed's netG.pth alone), D is the recipe's
    fresh initialisation.
    `template`: an `init_state` of this recipe to fill (saves drawing one).
    """
    if "generator" not in checkpoint:
        source = source.get("generator", "<checkpoint>") if isinstance(source, Mapping) else source
        raise JaxganError(f"{source}: not a torch_ref checkpoint (no 'generator' state_dict), nor a state_dict of "
                          f"the recipe's generator (keys {list(checkpoint)[:3]})")
    gan = build_gan(config, image_shape)
    if template is None:
        template = init_state(gan, config.seed if seed is None else seed)
    layouts = net_layouts(config, image_shape)
    txs = {"generator": gan.g_tx, "discriminator": gan.d_tx}
    nets = {}
    for name, tmpl in (("generator", template.g), ("discriminator", template.d)):
        if name not in checkpoint:  # a generator alone: D as the recipe initialises it
            nets[name] = tmpl.replace(opt_state=txs[name].init(tmpl.params))
            continue
        where = source.get(name, "<checkpoint>") if isinstance(source, Mapping) else source
        check_state_dict(layouts[name], tmpl, checkpoint[name], name, where)
        net = net_from_torch(layouts[name], tmpl, checkpoint[name])
        opt_key = OPTIMIZER_KEYS[name]
        opt_state = optimizer_from_torch(layouts[name], net, checkpoint.get(opt_key), txs[name], where, opt_key)
        nets[name] = net.replace(opt_state=opt_state)
    step = int(checkpoint.get("step", 0))
    return template.replace(step=jnp.asarray(step, jnp.int32), g=nets["generator"], d=nets["discriminator"])


def gan_for(config: Config, image_shape: Optional[tuple[int, int, int]] = None) -> tuple[GAN, tuple[int, int, int]]:
    """The recipe's GAN and image shape (from the config alone when not given)."""
    shape = tuple(image_shape) if image_shape is not None else recipe_image_shape(config)
    return build_gan(config, shape), shape


# --- files --------------------------------------------------------------------------------------

def _to_tensors(obj):
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return type(obj)((k, _to_tensors(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_to_tensors(v) for v in obj]
    return obj


def save_torch_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """Writes a checkpoint of numpy arrays as a torch .pt file (tensors), atomically."""
    import torch

    from jaxgan.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save(_to_tensors(dict(checkpoint)), tmp)
    return Path(path)


def load_torch_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a torch_ref .pt checkpoint with `weights_only=True` (no code runs on load)."""
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        raise JaxganError(f"{path}: is a folder; give the checkpoint file (e.g. netG.pth)")
    if not path.is_file():
        raise JaxganError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        globals_named = re.search(r"GLOBAL (\S+)", str(e))
        if globals_named is None:  # not a pickle at all
            raise JaxganError(f"{path}: not a file torch.load can read (not a torch checkpoint)") from None
        raise JaxganError(f"{path}: refused, its pickle would run code or build objects other than tensors "
                          f"(it names {globals_named.group(1)}; read with torch.load(weights_only=True))") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise JaxganError(f"{path}: not a file torch.load can read ({type(e).__name__})") from None
    if not isinstance(ckpt, dict):
        raise JaxganError(f"{path}: expected a dict checkpoint, got {type(ckpt).__name__}")
    return ckpt


def save_jax_checkpoint(config: Config, state: GANState, workdir: str | Path,
                        image_shape: Optional[tuple[int, int, int]] = None,
                        extra_meta: Optional[Mapping[str, Any]] = None) -> Path:
    """Writes `state` as a jaxgan run folder's checkpoint (workdir/checkpoints/<step>/) beside
    the recipe (workdir/config.yaml), so `jaxgan.train --workdir DIR --resume` continues it."""
    from jaxgan.checkpoint import Checkpointer
    from jaxgan.config import dump_config
    from jaxgan.run_folder import check_writable

    workdir = Path(workdir)
    check_writable(workdir)
    checkpointer = Checkpointer(workdir / "checkpoints")
    try:
        if checkpointer.latest_step() is not None:
            raise JaxganError(f"{workdir}: already holds a jaxgan checkpoint (step {checkpointer.latest_step()}); "
                              "choose another directory")
        shape = tuple(image_shape) if image_shape is not None else recipe_image_shape(config)
        meta = {"recipe": config.name, "step": int(state.step), "converted_from": "torch",
                "image_shape": [int(n) for n in shape], **(extra_meta or {})}
        checkpointer.save(state, meta)
        checkpointer.wait()
    finally:
        checkpointer.close()
    dump_config(config, workdir / "config.yaml")
    return workdir / "checkpoints" / str(int(state.step))


def restore_jax_checkpoint(config: Config, directory: str | Path,
                           image_shape: Optional[tuple[int, int, int]] = None) -> GANState:
    """A GANState from a jaxgan run folder, its checkpoints/ folder, or one checkpoints/<step>/.

    Shapes are checked against the recipe first, naming the first tensor that differs.
    """
    return restore_jax_run(config, directory, image_shape)[0]


def restore_jax_run(config: Config, directory: str | Path,
                    image_shape: Optional[tuple[int, int, int]] = None) -> tuple[GANState, dict[str, Any]]:
    """`restore_jax_checkpoint`, with the checkpoint's metadata."""
    from jaxgan.checkpoint import Checkpointer

    directory = Path(directory)
    if not directory.is_dir():
        raise JaxganError(f"{directory}: no such checkpoint directory")
    step: Optional[int] = None
    if (directory / "checkpoints").is_dir():
        directory = directory / "checkpoints"
    elif directory.name.isdigit() and not any(p.name.isdigit() for p in directory.iterdir()):
        step, directory = int(directory.name), directory.parent
    gan, shape = gan_for(config, image_shape)
    template = init_state(gan, config.seed)
    checkpointer = Checkpointer(directory, keep=1_000_000)
    try:
        step = checkpointer.latest_step() if step is None else step
        if step is None:
            raise JaxganError(f"{directory}: no jaxgan checkpoint here")
        try:
            state, meta = checkpointer.restore(template, step)
        except JaxganError:
            _raise_first_mismatch(checkpointer, step, template, directory)
            raise
    finally:
        checkpointer.close()
    return state, meta


def _raise_first_mismatch(checkpointer, step: int, template: GANState, directory: Path) -> None:
    """Restores the checkpoint as saved and names the first tensor that differs from the recipe."""
    import orbax.checkpoint as ocp
    from flax import serialization

    try:
        saved = checkpointer.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    except Exception:  # unreadable as saved too: the caller's error stands
        return
    def name(path) -> str:
        return "/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)

    flat = {name(k): v for k, v in jax.tree_util.tree_leaves_with_path(saved)}
    where = directory / str(step)
    leaves = jax.tree_util.tree_leaves_with_path(serialization.to_state_dict(template))
    expected_leaves = [(name(k), v) for k, v in leaves]
    # weights first (G before D), then statistics, then optimiser state
    order = ("/params/", "/batch_stats/", "/opt_state/")
    expected_leaves.sort(key=lambda kv: (next((i for i, o in enumerate(order) if o in f"/{kv[0]}/"), len(order)),
                                         not kv[0].startswith("g/")))
    for key, leaf in expected_leaves:
        expected = tuple(np.shape(leaf))
        if key not in flat:
            raise JaxganError(f"{where}: checkpoint has no {key} (the recipe expects shape {expected})")
        if tuple(np.shape(flat[key])) != expected:
            raise JaxganError(f"{where}: {key} has shape {tuple(np.shape(flat[key]))}, the recipe expects {expected}")


# --- the seeds' own files: bare state_dicts ----------------------------------------------------
#
# The seeds save each network alone, `torch.save(netG.state_dict(), 'netG.pth')` and the same
# for netD (seed 003 each epoch; pytorch/examples' dcgan as netG_epoch_N.pth). No optimiser
# state, no step: a run converted from them starts at step 0 with fresh Adam moments.

SEED_FILES = {"generator": "netG.pth", "discriminator": "netD.pth"}


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and (hasattr(v, "shape") or isinstance(v, np.ndarray)) for k, v in obj.items())


def read_torch_files(paths: list[str | Path]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(checkpoint, file of each net, what was initialised fresh) from one torch_ref checkpoint,
    or from the seeds' state_dicts: G's file, then D's if given.

    Every file is read with `weights_only=True`; one that is neither is refused naming it.
    """
    if not 1 <= len(paths) <= 2:
        raise JaxganError(f"give one torch_ref checkpoint, or the generator's state_dict and the discriminator's "
                          f"(e.g. netG.pth netD.pth); got {len(paths)} files")
    loaded = [load_torch_checkpoint(p) for p in paths]
    if "generator" in loaded[0] and not _is_state_dict(loaded[0]):
        if len(paths) > 1:
            raise JaxganError(f"{paths[0]}: a torch_ref checkpoint holds both networks; give it alone")
        notes = [] if "optimizer_g" in loaded[0] else ["optimiser state: not in the file; initialised fresh"]
        return loaded[0], {"generator": str(paths[0]), "discriminator": str(paths[0])}, notes
    for path, obj in zip(paths, loaded):
        if not _is_state_dict(obj):
            first = next(iter(obj), None)
            raise JaxganError(f"{path}: neither a torch_ref checkpoint nor a network's state_dict "
                              f"(its first entry '{first}' is a {type(obj.get(first)).__name__}, not a tensor)")
    checkpoint = dict(zip(NETS, loaded))
    sources = {net: str(p) for net, p in zip(NETS, paths)}
    notes = [] if len(paths) == 2 else [
        "discriminator: no file given; initialised fresh, as the recipe initialises it"]
    notes.append("optimiser state: not in the seeds' files; initialised fresh (Adam moments zero, step 0)")
    return checkpoint, sources, notes


def torch_counters(config: Config, checkpoint: Mapping[str, Any], image_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The BatchNorm num_batches_tracked of each network in `checkpoint` (for the metadata, so
    that `to_torch` gives them back after a round trip), with the checkpoint's step."""
    layouts = net_layouts(config, image_shape)
    out: dict[str, Any] = {"step": int(checkpoint.get("step", 0))}
    for net in NETS:
        sd = checkpoint.get(net) or {}
        counted = {k: int(_numpy(sd[k])) for k in layouts[net].counters if k in sd}
        if counted:
            out[net] = counted
    return out


def write_seed_files(config: Config, state: GANState, image_shape: tuple[int, int, int], out_dir: str | Path,
                     counters: Optional[Mapping[str, Any]] = None, force: bool = False) -> list[Path]:
    """OUT_DIR/netG.pth and netD.pth, each saved as the seeds save them: the seed's own network
    (torch_ref) given the weights, then `torch.save(net.state_dict(), path)`; loadable with
    `net.load_state_dict(torch.load(path))`."""
    import torch

    from jaxgan.files import atomic_write, refuse_existing
    from torch_ref.models import check_recipe, seed_name, seed_networks

    check_recipe(config)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise JaxganError(f"{out_dir}: is a file; give a folder for netG.pth and netD.pth")
    if not out_dir.parent.is_dir():
        raise JaxganError(f"{out_dir.parent}: no such folder; create it first or choose another --to-seed folder")
    targets = {net: out_dir / name for net, name in SEED_FILES.items()}
    if out_dir.is_dir():
        for target in targets.values():
            refuse_existing(target, force, "seed state_dict")
    checkpoint = to_torch(config, state, image_shape, counters)
    name = seed_name(config)
    with torch.device("meta"):  # the seed's classes, without drawing weights that are replaced next
        nets = dict(zip(NETS, seed_networks(name, image_shape[-1])))
    out_dir.mkdir(exist_ok=True)
    for net, target in targets.items():
        module = nets[net]
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in checkpoint[net].items()}, assign=True)
        # torch names the archive inside the file after the file (netG/data.pkl): save under the
        # target's own name in a scratch folder, then write those bytes atomically
        with tempfile.TemporaryDirectory(prefix="jaxgan-seed-") as scratch:
            staged = Path(scratch) / target.name
            torch.save(module.state_dict(), staged)
            atomic_write(target, staged.read_bytes())
    return list(targets.values())
