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
`use_real_stats` replaces the training images' FID statistics with a pytorch-fid .npz file's
(jaxgan/quality/stats_file.py): FID, the floor's too, is then measured against the file, and
KID is not measured (a statistics file holds no features).

Features: the domain classifier scores every one-channel recipe on MNIST or Fashion-MNIST,
whatever size it trains at. Its samples reach the classifier through `to_classifier_size`:
a recipe on images resized to 64 x 64 (dcgan_fashion_mnist) is scored on its samples resized
back to 28 x 28, here, the same way for the samples of either backend. The real images are
read at the files' 28 x 28.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterable, Optional

import jax
import numpy as np

from jaxgan.config import Config, EvalConfig, recipe_image_shape
from jaxgan.data import load_images, to_float, value_range
from jaxgan.errors import JaxganError
from jaxgan.quality import metrics
from jaxgan.quality.labels import has_classifier, load_labelled_splits
from jaxgan.quality.stats_file import FidStatistics, from_feature_stats

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


def compare(generated: SetStats, reference: Optional[SetStats], fid_reference: Optional[FidStatistics] = None,
            kid_subsets: int = metrics.KID_SUBSETS, kid_subset_size: int = metrics.KID_SUBSET_SIZE) -> dict[str, Any]:
    """FID of `generated` against `fid_reference` (default: `reference`'s statistics), KID against
    `reference` (None without it), and `generated`'s class coverage."""
    if fid_reference is None:
        fid_reference = FidStatistics(reference.features.mean(), reference.features.cov())
    kid_mean = kid_std = subset = None
    if reference is not None:
        kid_mean, kid_std, subset = metrics.kid(generated.all_features(), reference.all_features(),
                                                kid_subsets, kid_subset_size)
    with metrics.few_blas_threads(generated.features.dim):
        fid = metrics.frechet_distance(generated.features.mean(), generated.features.cov(),
                                       fid_reference.mu, fid_reference.sigma)
    return {
        "fid": fid,
        "kid": kid_mean,
        "kid_std": kid_std,
        "kid_subset_size": subset,
        "num_images": generated.count,
        **generated.classes.summary(),
    }


# ----------------------------------------------------------------------------------------------
# Features and real images for a recipe


def choose_features(config: Config, eval_cfg: EvalConfig) -> str:
    """'classifier' for one-channel MNIST and Fashion-MNIST at any image size (its samples are
    resized to 28 x 28 by `to_classifier_size`), else 'inception'; eval.features overrides."""
    if eval_cfg.features != "auto":
        return eval_cfg.features
    return "classifier" if has_classifier(config.data.dataset) and config.data.channels == 1 else "inception"


CLASSIFIER_SIZE = 28  # the domain classifier's input (jaxgan/quality/domain_classifier.py)


@jax.jit
def _resize_to_classifier(images01):
    b, _, _, c = images01.shape
    return jax.image.resize(images01, (b, CLASSIFIER_SIZE, CLASSIFIER_SIZE, c), "linear", antialias=True)


def to_classifier_size(images01) -> np.ndarray:
    """Images (B, H, W, C) in [0, 1] at the classifier's 28 x 28: bilinear, antialiased when
    shrinking, which is torchvision's Resize(28) on PIL images to 1e-6 (its support grows with
    the scale, so a 64 -> 28 resize averages every pixel rather than sampling some). Images
    already 28 x 28 are returned as they are."""
    images01 = np.asarray(images01, np.float32)
    if images01.ndim != 4 or images01.shape[1:3] == (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
        return images01
    return np.asarray(_resize_to_classifier(images01))


@dataclasses.dataclass
class RealImages:
    train: np.ndarray  # uint8 (N, H, W, C): the reference
    test: np.ndarray  # uint8: the floor's comparison set
    description: str
    split: str = "train"  # what `train` is, for the report


def _real_for_classifier(config: Config, eval_cfg: EvalConfig, train_classifier: bool,
                         log: Callable[[str], None]):
    from jaxgan.quality import domain_classifier as clf

    data = load_labelled_splits(config.data)
    command = clf.train_command(config.data)
    if train_classifier and not clf.is_cached(data):
        log(f"no {data.dataset} classifier for this data yet (sha256 {data.checksum[:16]}): training one as "
            f"`{command}` does ({clf.DEFAULT_EPOCHS[data.dataset]} epochs), then evaluating")
        classifier = clf.train_and_save(data)
    else:
        classifier = clf.find_classifier(data, command)
    extractor = ClassifierExtractor(classifier, eval_cfg.batch_size, recipe_image_size(config))
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
                                 f"{config.data.dataset}: train halves ({half} / {len(train) - half}), no test split",
                                 split="train (first half)")


def recipe_image_size(config: Config) -> Optional[tuple[int, int]]:
    """(H, W) of a recipe's images, or None where only its files know it."""
    try:
        return tuple(recipe_image_shape(config)[:2])
    except JaxganError:
        return None


class ClassifierExtractor:
    """A DomainClassifier with the interface the evaluator uses."""

    name = "classifier"

    def __init__(self, classifier, batch_size: int = 500, image_size: Optional[tuple[int, int]] = None):
        self.classifier = classifier
        self.batch_size = batch_size
        self.feature_dim = classifier.feature_dim
        self.num_classes = int(classifier.meta.get("num_classes", 10))
        self.class_names = classifier.class_names
        self.image_size = image_size  # the recipe's (H, W): the samples' size, for the report

    def describe(self) -> dict[str, Any]:
        meta = self.classifier.meta
        size = self.image_size or (CLASSIFIER_SIZE, CLASSIFIER_SIZE)
        resize = "" if size == (CLASSIFIER_SIZE, CLASSIFIER_SIZE) else (
            f"samples {size[0]}x{size[1]} resized to {CLASSIFIER_SIZE}x{CLASSIFIER_SIZE} (bilinear, antialiased)")
        return {"name": "classifier", "dataset": meta.get("dataset"), "checksum": str(meta.get("checksum"))[:16],
                "weights_sha256": str(meta.get("weights_sha256", ""))[:16], "test_accuracy": meta.get("test_accuracy"),
                "feature_dim": self.feature_dim, "resize": resize}

    def features_and_probs(self, images01):
        return self.classifier.features_and_probs(to_classifier_size(images01))


def features_identity(described: dict[str, Any]) -> str:
    """What computed a set of features, in one line: the `features` entry of a statistics file."""
    if described.get("name") == "classifier":
        return (f"classifier {described.get('dataset')} data {described.get('checksum')} "
                f"weights {described.get('weights_sha256')}")
    if described.get("name") == "inception":
        return f"inception pool3 weights {str(described.get('weights_sha256'))[:16]}"
    return str(described.get("name"))


# ----------------------------------------------------------------------------------------------
# The evaluator


class Evaluator:
    """FID, KID and mode coverage of generators of one recipe; real features computed once.

    Args:
      config: the recipe (its data section says which real images; `eval` the settings).
      inception_weights: overrides eval.inception_weights (and $JAXGAN_INCEPTION_WEIGHTS).
      num_samples: overrides eval.num_samples.
      extractor, real: inject features and real images (tests; otherwise chosen from config).
      train_classifier: when the data's domain classifier is not cached, train and cache it
        (as `python -m jaxgan.classifier` does) instead of failing; `log` says so in one line.

    Raises:
      JaxganError: no classifier for the data (says which command trains it), no Inception
        weights (says what to supply), data not found.
    """

    def __init__(self, config: Config, inception_weights: Optional[str] = None,
                 num_samples: Optional[int] = None, extractor=None, real: Optional[RealImages] = None,
                 train_classifier: bool = False, log: Callable[[str], None] = print):
        self.config = config
        self.eval_cfg = config.eval
        self.num_samples = num_samples or self.eval_cfg.num_samples
        self.metric = self.eval_cfg.metric
        self.value_range = value_range(config.data.scale)
        if extractor is None:
            if choose_features(config, self.eval_cfg) == "classifier":
                extractor, real = _real_for_classifier(config, self.eval_cfg, train_classifier, log)
            else:
                extractor, real = _real_for_inception(config, self.eval_cfg, inception_weights)
        self.extractor = extractor
        self.real = real
        self.real_stats_source = "computed"  # or the statistics file's path (use_real_stats)
        self._reference: Optional[SetStats] = None
        self._fid_reference: Optional[FidStatistics] = None
        self._floors: dict[Optional[int], dict[str, Any]] = {}
        self._z: Optional[np.ndarray] = None

    # -- real images, once ----------------------------------------------------------------------

    def features_identity(self) -> str:
        return features_identity(self.extractor.describe())

    def use_real_stats(self, stats: FidStatistics, source: str) -> None:
        """Measures FID against `stats` (read from `source`) instead of the real training
        images' statistics; KID is then not measured. Call it before the first measurement."""
        if stats.dim != self.extractor.feature_dim:
            raise JaxganError(f"{source}: {stats.dim}-d statistics, but the features here are "
                              f"{self.extractor.feature_dim}-d")
        self._fid_reference, self.real_stats_source = stats, source
        self._floors.clear()

    def reference(self) -> SetStats:
        """The real training images' statistics (computed on the first call, then kept)."""
        if self._reference is None:
            self._reference = accumulate(self.extractor, _real_batches(self.real.train, self.extractor.batch_size))
        return self._reference

    def real_stats(self) -> FidStatistics:
        """The FID statistics samples are compared with: the file's, or the training images'."""
        if self._fid_reference is None:
            return from_feature_stats(self.reference().features, self.real.split, self.features_identity())
        return self._fid_reference

    def _kid_reference(self) -> Optional[SetStats]:
        return self.reference() if self._fid_reference is None else None

    def floor(self, num_images: Optional[int] = None) -> dict[str, Any]:
        """The first `num_images` real test images (all: None) against the reference: the best
        a generator can do with that many samples."""
        if num_images not in self._floors:
            test = self.real.test[:num_images]
            stats = accumulate(self.extractor, _real_batches(test, self.extractor.batch_size))
            self._floors[num_images] = compare(stats, self._kid_reference(), self.real_stats())
        return self._floors[num_images]

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

    def generated_stats(self, generate: Callable[[Any], Any]) -> SetStats:
        """What `generate`'s samples (on the fixed evaluation z) contribute."""
        return accumulate(self.extractor, self._generated_batches(generate))

    def score(self, generated: SetStats) -> dict[str, Any]:
        """FID, KID (mean, std; None against a statistics file), coverage, histogram."""
        return compare(generated, self._kid_reference(), self.real_stats())

    def measure(self, generate: Callable[[Any], Any]) -> dict[str, Any]:
        """Everything about `generate`'s samples: FID, KID (mean, std), coverage, histogram."""
        t0 = time.perf_counter()
        result = self.score(self.generated_stats(generate))
        result["eval_s"] = round(time.perf_counter() - t0, 2)
        return result

    def __call__(self, generate: Callable[[Any], Any]) -> dict[str, float]:
        """The trainer's call: a flat dict of floats (fid, kid, kid_std, classes_covered,
        marginal_entropy). `generate(z)` maps a (B, z_dim) array to images (B, H, W, C) in the
        recipe's value range; a TrainedGenerator is such a function."""
        r = self.measure(generate)
        keys = ("fid", "kid", "kid_std", "classes_covered", "marginal_entropy", "eval_s")
        return {k: float(r[k]) for k in keys if r[k] is not None}

    def is_better(self, new: dict[str, float], best: Optional[dict[str, float]]) -> bool:
        """Whether `new` beats `best` on eval.metric (lower is better; None: nothing yet)."""
        return best is None or new[self.metric] < best[self.metric]

    def describe(self) -> dict[str, Any]:
        return {**self.extractor.describe(), "real": self.real.description}
