"""Which torch state_dict entry is which jaxgan variable, recipe by recipe.

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

import numpy as np

from jaxgan.config import Config, NetConfig
from jaxgan.errors import JaxganError

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
