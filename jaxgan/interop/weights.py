"""Weights and optimiser state between a GANState and torch's state_dicts, in both directions.

A torch checkpoint here is the structure `torch_ref.train` saves:

    {"generator": G.state_dict(), "discriminator": D.state_dict(),
     "optimizer_g": opt_g.state_dict(), "optimizer_d": opt_d.state_dict(),
     "step": int, "recipe": str}

`to_torch` and `from_torch` work on it with numpy arrays (any array-like is accepted, torch
tensors included), so they need no torch; reading and writing files is `torch_files`'.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping, Optional

import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.config import Config, OptimizerConfig, recipe_image_shape
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, NetState, build_gan, init_state
from jaxgan.interop.layouts import NETS, OPTIMIZER_KEYS, NetLayout, net_layouts

def tree_get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


def tree_set(tree: dict, path, value) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def to_numpy(x) -> np.ndarray:
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
        values[t.torch_key] = t.to_torch(to_numpy(tree_get(trees[t.collection], t.path)))
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
                        "exp_avg": t.to_torch(to_numpy(tree_get(adam.mu, t.path))),
                        "exp_avg_sq": t.to_torch(to_numpy(tree_get(adam.nu, t.path)))}
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
            found = (f"; its first tensor is '{first}' with shape {tuple(np.shape(to_numpy(sd[first])))}"
                     if first is not None else "; it holds no tensors")
            raise JaxganError(f"{source}: {what} has no tensor '{t.torch_key}' (the recipe expects shape {expected})"
                              f"{found}: a state_dict of another network, or of another recipe")
        got = tuple(np.shape(to_numpy(sd[t.torch_key])))
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
        tree_set(trees[t.collection], t.path, jnp.asarray(t.to_jax(to_numpy(sd[t.torch_key]))))
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
            value = to_numpy(entry[name])
            expected = t.torch_shape(np.shape(tree_get(net.params, t.path)))
            if value.shape != expected:
                raise JaxganError(f"{source}: {what} {name} of '{t.torch_key}' has shape {value.shape}, "
                                  f"the recipe expects {expected}")
            tree_set(tree, t.path, jnp.asarray(t.to_jax(value)))
        steps.add(int(to_numpy(entry["step"])))
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


def torch_counters(config: Config, checkpoint: Mapping[str, Any], image_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The BatchNorm num_batches_tracked of each network in `checkpoint` (for the metadata, so
    that `to_torch` gives them back after a round trip), with the checkpoint's step."""
    layouts = net_layouts(config, image_shape)
    out: dict[str, Any] = {"step": int(checkpoint.get("step", 0))}
    for net in NETS:
        sd = checkpoint.get(net) or {}
        counted = {k: int(to_numpy(sd[k])) for k in layouts[net].counters if k in sd}
        if counted:
            out[net] = counted
    return out
