"""The FID Inception network in Flax: what pytorch-fid computes, from its released weights.

pytorch-fid's `InceptionV3` (the TensorFlow 2015-12-05 graph that the original FID code used,
ported to torch) is torchvision's Inception3 with four patched blocks:

  FIDInceptionA, FIDInceptionC, FIDInceptionE_1   the pool branch averages without the
                                                    zero padding (count_include_pad=False)
  FIDInceptionE_2                                  the pool branch is a 3x3 max pool

Its input is NCHW in [0, 1]; it resizes to 299 x 299 (bilinear, align_corners=False, no
antialiasing), scales to [-1, 1], and returns the 2048-d average pool after Mixed_7c ("pool3").
`FIDInceptionV3` below does the same on NHWC and also returns the 1008 logits of its `fc`
(the class histogram of RGB recipes). Every conv is BasicConv2d: Conv (no bias), BatchNorm
(eps 1e-3, running statistics), ReLU.

Weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, a torch state_dict, read with
`torch.load(..., weights_only=True)` (no code runs) and mapped by name: the Flax modules carry
torch's names, so `Mixed_6b.branch7x7_2.conv.weight` is params[Mixed_6b][branch7x7_2][conv]
[kernel], transposed (out, in, kh, kw) -> (kh, kw, in, out); `.bn.weight/bias` are the
BatchNorm's scale/bias, `.bn.running_mean/var` its batch_stats mean/var; `fc.weight` is the
Dense kernel transposed.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from jaxgan.errors import JaxganError

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_NAME}"
WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub's convention: the name ends in sha256[:8]
ENV_VAR = "JAXGAN_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIM = 2048


# ----------------------------------------------------------------------------------------------
# The network


class BasicConv2d(nn.Module):
    """torchvision's BasicConv2d: Conv2d(bias=False) -> BatchNorm2d(eps=0.001) -> ReLU."""

    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)  # torch's (ph, pw), zeros on both sides

    @nn.compact
    def __call__(self, x):
        (ph, pw) = self.padding
        x = nn.Conv(self.features, self.kernel, (self.stride, self.stride), padding=((ph, ph), (pw, pw)),
                    use_bias=False, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3_same(x):
    """F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False): TF's average pool."""
    return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
    return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class FIDInceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), stride=2, name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (pool: average without padding) or FIDInceptionE_2 (pool: max)."""

    pool: str  # "avg" | "max"

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.pool == "avg":
            pooled = _avg_pool_3x3_same(x)
        else:  # FIDInceptionE_2: a max pool, as the TF graph has it
            pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(x, size: int = INPUT_SIZE):
    """F.interpolate(x, (size, size), mode='bilinear', align_corners=False) on NHWC: half-pixel
    centres, edge samples clamped, no antialiasing when shrinking."""
    if x.shape[1:3] == (size, size):
        return x
    return jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), "bilinear", antialias=False)


class FIDInceptionV3(nn.Module):
    """NHWC images in [0, 1] -> (pool3 features (B, 2048), logits (B, 1008)).

    `resize=False` runs the network at the input's own size (at least 75 x 75), as pytorch-fid's
    InceptionV3(resize_input=False) does; the tests use it to stay small.
    """

    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x, resize: bool = True, normalize: bool = True):
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if resize:
            x = resize_bilinear(x)  # (B, 299, 299, 3)
        if normalize:
            x = 2.0 * x - 1.0  # [0, 1] -> [-1, 1]
        x = BasicConv2d(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)  # (B, 149, 149, 32)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # (B, 147, 147, 32)
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)  # (B, 147, 147, 64)
        x = _max_pool_3x3_s2(x)  # (B, 73, 73, 64)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)  # (B, 73, 73, 80)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # (B, 71, 71, 192)
        x = _max_pool_3x3_s2(x)  # (B, 35, 35, 192)
        x = FIDInceptionA(32, name="Mixed_5b")(x)  # (B, 35, 35, 256)
        x = FIDInceptionA(64, name="Mixed_5c")(x)  # (B, 35, 35, 288)
        x = FIDInceptionA(64, name="Mixed_5d")(x)  # (B, 35, 35, 288)
        x = InceptionB(name="Mixed_6a")(x)  # (B, 17, 17, 768)
        x = FIDInceptionC(128, name="Mixed_6b")(x)  # (B, 17, 17, 768)
        x = FIDInceptionC(160, name="Mixed_6c")(x)
        x = FIDInceptionC(160, name="Mixed_6d")(x)
        x = FIDInceptionC(192, name="Mixed_6e")(x)  # (B, 17, 17, 768)
        x = InceptionD(name="Mixed_7a")(x)  # (B, 8, 8, 1280)
        x = FIDInceptionE("avg", name="Mixed_7b")(x)  # (B, 8, 8, 2048)
        x = FIDInceptionE("max", name="Mixed_7c")(x)  # (B, 8, 8, 2048)
        pool3 = jnp.mean(x, axis=(1, 2))  # adaptive_avg_pool2d -> (B, 2048)
        return pool3, nn.Dense(self.num_classes, name="fc")(pool3)  # (B, 1008)


# ----------------------------------------------------------------------------------------------
# torch state_dict <-> Flax variables


def _torch_key(collection: str, path: tuple[str, ...]) -> tuple[str, Optional[tuple[int, ...]]]:
    """(torch key, permutation to apply to the torch tensor) of one Flax variable."""
    *modules, leaf = path
    prefix = ".".join(modules)
    if collection == "batch_stats":
        return f"{prefix}.running_{leaf}", None  # mean, var
    if modules[-1] == "conv":
        return f"{prefix}.weight", (2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
    if modules[-1] == "bn":
        return f"{prefix}.{'weight' if leaf == 'scale' else 'bias'}", None
    if modules[-1] == "fc":
        return (f"{prefix}.weight", (1, 0)) if leaf == "kernel" else (f"{prefix}.bias", None)
    raise ValueError(f"no torch name for {collection}/{'/'.join(path)}")


@functools.lru_cache(maxsize=1)
def variable_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
    """{(collection, *path): shape} of FIDInceptionV3's variables (computed without running it)."""
    shapes = jax.eval_shape(lambda: FIDInceptionV3().init(jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3)), resize=False))
    return {k: tuple(v.shape) for k, v in flatten_dict(shapes).items()}


# Keys a pytorch-fid / torchvision state_dict may hold that FID does not use.
_IGNORED = ("num_batches_tracked", "AuxLogits.")


def variables_from_state_dict(state_dict, source: str = "<state_dict>") -> dict[str, Any]:
    """Flax variables {'params', 'batch_stats'} from a pytorch-fid Inception state_dict."""
    flat: dict[tuple[str, ...], np.ndarray] = {}
    used = set()
    for key, shape in variable_shapes().items():
        torch_key, perm = _torch_key(key[0], key[1:])
        if torch_key not in state_dict:
            raise JaxganError(f"{source}: not pytorch-fid's Inception weights: no '{torch_key}' "
                              f"(expected {WEIGHTS_NAME})")
        value = np.asarray(state_dict[torch_key].detach().cpu().numpy() if hasattr(state_dict[torch_key], "detach")
                           else state_dict[torch_key], np.float32)
        if perm is not None:
            value = value.transpose(perm)
        if value.shape != shape:
            raise JaxganError(f"{source}: '{torch_key}' has shape {tuple(np.asarray(state_dict[torch_key]).shape)}, "
                              f"the FID Inception needs {tuple(shape[i] for i in np.argsort(perm)) if perm else shape}")
        flat[key] = np.ascontiguousarray(value)
        used.add(torch_key)
    extra = [k for k in state_dict if k not in used and not any(s in k for s in _IGNORED)]
    if extra:
        raise JaxganError(f"{source}: unexpected key '{extra[0]}' ({len(extra)} in all); not pytorch-fid's Inception weights?")
    return unflatten_dict(flat)


def state_dict_from_variables(variables) -> dict[str, np.ndarray]:
    """The inverse: a torch-named state_dict (numpy arrays) from Flax variables."""
    out = {}
    for key, value in flatten_dict(jax.device_get(variables)).items():
        torch_key, perm = _torch_key(key[0], key[1:])
        value = np.asarray(value)
        out[torch_key] = np.ascontiguousarray(value.transpose(np.argsort(perm)) if perm else value)
    return out


def find_weights(path: Optional[str | os.PathLike] = None) -> Path:
    """The weights file: `path` (--inception-weights / eval.inception_weights), else
    $JAXGAN_INCEPTION_WEIGHTS; a one-line error says what to supply when neither is set."""
    chosen = path or os.environ.get(ENV_VAR)
    if not chosen:
        raise JaxganError(
            f"Inception FID needs pytorch-fid's weights {WEIGHTS_NAME} (download it from {WEIGHTS_URL}); "
            f"supply it with --inception-weights PATH, eval.inception_weights: PATH in the recipe, or ${ENV_VAR}"
        )
    chosen = Path(chosen).expanduser()
    if not chosen.is_file():
        raise JaxganError(f"{chosen}: Inception weights not found (expected {WEIGHTS_NAME}, from {WEIGHTS_URL})")
    return chosen


def load_weights(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """(Flax variables, sha256 of the file) of a torch state_dict file, read without torch."""
    from jaxgan.quality.state_dict_file import load_state_dict

    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return variables_from_state_dict(load_state_dict(path), str(path)), digest


class InceptionExtractor:
    """pool3 features and class probabilities of images in [0, 1] (any size, 1 or 3 channels)."""

    name = "inception"
    feature_dim = FEATURE_DIM

    def __init__(self, variables, sha256: str = "", batch_size: int = 50):
        self.variables = variables
        self.sha256 = sha256
        self.batch_size = batch_size
        self.num_classes = NUM_CLASSES
        self.class_names = [str(i) for i in range(NUM_CLASSES)]
        model = FIDInceptionV3()

        @jax.jit
        def apply(variables, x):
            pool3, logits = model.apply(variables, x)
            return pool3, jax.nn.softmax(logits)

        self._apply = apply

    @classmethod
    def from_file(cls, path: Optional[str | os.PathLike] = None, batch_size: int = 50) -> "InceptionExtractor":
        weights = find_weights(path)
        variables, digest = load_weights(weights)
        return cls(variables, digest, batch_size)

    def describe(self) -> dict[str, Any]:
        return {"name": "inception", "feature_dim": FEATURE_DIM, "weights_sha256": self.sha256,
                "pytorch_fid_weights": self.sha256.startswith(WEIGHTS_SHA256_PREFIX)}

    def features_and_probs(self, images01) -> tuple[np.ndarray, np.ndarray]:
        """images (B, H, W, C) in [0, 1] -> pool3 (B, 2048), softmax of the 1008 logits."""
        from jaxgan.quality.domain_classifier import padded_batches

        return padded_batches(lambda x: self._apply(self.variables, x), np.asarray(images01, np.float32),
                              self.batch_size)
