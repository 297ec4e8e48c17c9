"""Evaluating a generator: samples -> features -> FID, KID and mode coverage, with floors.

An `Evaluator` is built once per recipe. It picks the features (the domain classifier on
MNIST / Fashion-MNIST, the FID Inception elsewhere), computes the real images' features the
first time they are needed and keeps them, and then measures any number of generators:

    evaluator = Evaluator(config)
    evaluator(lambda z: generate(state, z))   # {'fid': ..., 'kid': ..., 'classes_covered': ...}

The generated images are drawn from one fixed z (the recipe's seed, its own stream), so two
evaluations of one run differ only by what the generator learned. Generated images are mapped
from the recipe's value range to [0, 1] and clipped, as saving them to PNG would.

Reference and floor: FID and KID compare the samples with the real *training* images; the
floor beside them is the real *test* images against the same training images on the same
features (what a perfect generator would score with that many samples). The class histogram's
floor is the test images'. Without a test split (CelebA), the training images are halved.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterable, Optional

import jax
import numpy as np

from jaxgan.config import Config, EvalConfig
from jaxgan.data import load_images, to_float, value_range
from jaxgan.errors import JaxganError
from jaxgan.quality import metrics
from jaxgan.quality.labels import has_classifier, load_labeled

EVAL_NOISE_STREAM = 0xE7A1  # fold_in tag: evaluation z is independent of training and grids
SPLIT_FORMATS = ("idx", "cifar10", "tfds")  # readers with a real test split (data.split: test)


@dataclasses.dataclass
class SetStats:
    """What an image set contributes: running feature sums, class sums, and the features (KID)."""

    features: metrics.FeatureStats
    classes: metrics.ClassStats
    kept: list[np.ndarray] = dataclasses.field(default_factory=list)

    @property
    def count(self) -> int:
        return self.features.count

    def all_features(self) -> np.ndarray:
        return np.concatenate(self.kept) if self.kept else np.zeros((0, self.features.dim), np.float32)


def accumulate(extractor, batches: Iterable[np.ndarray]) -> SetStats:
    """Runs `extractor` over batches of images in [0, 1] and sums up what it sees."""
    stats = SetStats(metrics.FeatureStats(extractor.feature_dim), metrics.ClassStats(extractor.num_classes))
    for images01 in batches:
        features, probs = extractor.features_and_probs(images01)
        if not np.all(np.isfinite(features)):
            raise JaxganError("non-finite features: the generator produced NaN or infinite images")
        stats.features.update(features)
        stats.classes.update(probs)
        stats.kept.append(np.asarray(features, np.float32))
    return stats


def _real_batches(images: np.ndarray, batch_size: int):
    """uint8 real images in batches, in [0, 1] as torchvision's ToTensor gives them."""
    for start in range(0, len(images), batch_size):
        yield to_float(images[start : start + batch_size], "zero_one")


def to_unit(images, value_range: tuple[float, float]) -> np.ndarray:
    """Generated images in the recipe's value range -> [0, 1], clipped (as a PNG would be)."""
    lo, hi = value_range
    return np.clip((np.asarray(images, np.float32) - lo) / (hi - lo), 0.0, 1.0)


def compare(generated: SetStats, reference: SetStats, kid_subsets: int = metrics.KID_SUBSETS,
            kid_subset_size: int = metrics.KID_SUBSET_SIZE) -> dict[str, Any]:
    """FID and KID of `generated` against `reference`, and `generated`'s class coverage."""
    kid_mean, kid_std, subset = metrics.kid(generated.all_features(), reference.all_features(),
                                            kid_subsets, kid_subset_size)
    return {
        "fid": metrics.fid_from_stats(generated.features, reference.features),
        "kid": kid_mean,
        "kid_std": kid_std,
        "kid_subset_size": subset,
        "num_images": generated.count,
        **generated.classes.summary(),
    }


# ----------------------------------------------------------------------------------------------
# Features and real images for a recipe


def choose_features(config: Config, eval_cfg: EvalConfig) -> str:
    if eval_cfg.features != "auto":
        return eval_cfg.features
    return "classifier" if has_classifier(config.data.dataset) and config.data.channels == 1 else "inception"


@dataclasses.dataclass
class RealImages:
    train: np.ndarray  # uint8 (N, H, W, C): the reference
    test: np.ndarray  # uint8: the floor's comparison set
    description: str


def _real_for_classifier(config: Config, eval_cfg: EvalConfig):
    from jaxgan.quality import domain_classifier as clf

    data = load_labeled(config.data)
    extractor = ClassifierExtractor(clf.find_classifier(data, clf.train_command(config.data)), eval_cfg.batch_size)
    train = data.train_images[: eval_cfg.num_real] if eval_cfg.num_real else data.train_images
    return extractor, RealImages(train, data.test_images, f"{data.source}: {len(train)} train / {len(data.test_images)} test")


def _real_for_inception(config: Config, eval_cfg: EvalConfig, weights: Optional[str]):
    from jaxgan.quality.inception import InceptionExtractor

    extractor = InceptionExtractor.from_file(weights or eval_cfg.inception_weights, batch_size=min(eval_cfg.batch_size, 50))
    train = load_images(config.data.model_copy(update={"split": "train"}))
    if eval_cfg.num_real:
        train = train[: eval_cfg.num_real]
    if config.data.format in SPLIT_FORMATS:
        try:
            test = load_images(config.data.model_copy(update={"split": "test", "limit": eval_cfg.num_real}))
            return extractor, RealImages(train, test, f"{config.data.dataset}: {len(train)} train / {len(test)} test")
        except JaxganError:
            pass
    half = len(train) // 2  # no test split: the floor compares the two halves
    return extractor, RealImages(train[:half], train[half:],
                                 f"{config.data.dataset}: train halves ({half} / {len(train) - half}), no test split")


class ClassifierExtractor:
    """A DomainClassifier with the interface the evaluator uses."""

    name = "classifier"

    def __init__(self, classifier, batch_size: int = 500):
        self.classifier = classifier
        self.batch_size = batch_size
        self.feature_dim = classifier.feature_dim
        self.num_classes = int(classifier.meta.get("num_classes", 10))
        self.class_names = classifier.class_names

    def describe(self) -> dict[str, Any]:
        meta = self.classifier.meta
        return {"name": "classifier", "dataset": meta.get("dataset"), "checksum": str(meta.get("checksum"))[:16],
                "test_accuracy": meta.get("test_accuracy"), "feature_dim": self.feature_dim}

    def features_and_probs(self, images01):
        return self.classifier.features_and_probs(images01)


# ----------------------------------------------------------------------------------------------
# The evaluator


class Evaluator:
    """FID, KID and mode coverage of generators of one recipe; real features computed once.

    Args:
      config: the recipe (its data section says which real images; `eval` the settings).
      inception_weights: overrides eval.inception_weights (and $JAXGAN_INCEPTION_WEIGHTS).
      num_samples: overrides eval.num_samples.
      extractor, real: inject features and real images (tests; otherwise chosen from config).

    Raises:
      JaxganError: no classifier for the data (says which command trains it), no Inception
        weights (says what to supply), data not found.
    """

    def __init__(self, config: Config, inception_weights: Optional[str] = None,
                 num_samples: Optional[int] = None, extractor=None, real: Optional[RealImages] = None):
        self.config = config
        self.eval_cfg = config.eval
        self.num_samples = num_samples or self.eval_cfg.num_samples
        self.metric = self.eval_cfg.metric
        self.value_range = value_range(config.data.scale)
        if extractor is None:
            if choose_features(config, self.eval_cfg) == "classifier":
                extractor, real = _real_for_classifier(config, self.eval_cfg)
            else:
                extractor, real = _real_for_inception(config, self.eval_cfg, inception_weights)
        self.extractor = extractor
        self.real = real
        self._reference: Optional[SetStats] = None
        self._floor: Optional[dict[str, Any]] = None
        self._z: Optional[np.ndarray] = None

    # -- real images, once ----------------------------------------------------------------------

    def reference(self) -> SetStats:
        """The real training images' statistics (computed on the first call, then kept)."""
        if self._reference is None:
            self._reference = accumulate(self.extractor, _real_batches(self.real.train, self.extractor.batch_size))
        return self._reference

    def floor(self) -> dict[str, Any]:
        """Real test images against the real training images: the best a generator can do."""
        if self._floor is None:
            test = accumulate(self.extractor, _real_batches(self.real.test, self.extractor.batch_size))
            self._floor = compare(test, self.reference())
        return self._floor

    # -- generated images -------------------------------------------------------------------------

    def noise(self) -> np.ndarray:
        """The fixed evaluation z: (num_samples, z_dim) from the recipe's seed and prior."""
        if self._z is None:
            from jaxgan.gan import sample_noise

            key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), EVAL_NOISE_STREAM)
            self._z = np.asarray(sample_noise(key, (self.num_samples, self.config.model.z_dim), self.config.model.noise))
        return self._z

    def _generated_batches(self, generate: Callable[[Any], Any]):
        z = self.noise()
        b = self.eval_cfg.batch_size
        for start in range(0, len(z), b):
            chunk = z[start : start + b]
            n = len(chunk)
            if n < b:  # pad to the batch size: one compiled shape for a jitted generate
                chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), chunk.dtype)])
            images = np.asarray(generate(chunk))[:n]
            yield to_unit(images, self.value_range)

    def measure(self, generate: Callable[[Any], Any]) -> dict[str, Any]:
        """Everything about `generate`'s samples: FID, KID (mean, std), coverage, histogram."""
        t0 = time.perf_counter()
        generated = accumulate(self.extractor, self._generated_batches(generate))
        result = compare(generated, self.reference())
        result["eval_s"] = round(time.perf_counter() - t0, 2)
        return result

    def __call__(self, generate: Callable[[Any], Any]) -> dict[str, float]:
        """The trainer's call: a flat dict of floats (fid, kid, kid_std, classes_covered,
        marginal_entropy). `generate(z)` maps a (B, z_dim) array to images (B, H, W, C) in the
        recipe's value range; a TrainedGenerator is such a function."""
        r = self.measure(generate)
        return {k: float(r[k]) for k in ("fid", "kid", "kid_std", "classes_covered", "marginal_entropy", "eval_s")}

    def is_better(self, new: dict[str, float], best: Optional[dict[str, float]]) -> bool:
        """Whether `new` beats `best` on eval.metric (lower is better; None: nothing yet)."""
        return best is None or new[self.metric] < best[self.metric]

    def describe(self) -> dict[str, Any]:
        return {**self.extractor.describe(), "real": self.real.description}
