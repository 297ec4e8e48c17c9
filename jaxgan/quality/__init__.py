"""What the GANs learned: FID and KID, mode coverage, and the scores the best checkpoint is kept by.

  make_evaluator(config)     the trainer's hook (jaxgan/run/loop.py): None when eval.every is 0,
                             else an Evaluator, which fails at once if its features are missing
  Evaluator                  measures generators of one recipe (scoring.py)
  fid, kid, frechet_distance, FeatureStats, ClassStats   the maths (metrics.py)
  read_stats, write_stats    FID statistics files in pytorch-fid's .npz format (stats_file.py)

The report of a run folder's generator (`python -m jaxgan.evaluate`) reads checkpoints, so it
lives with the run machinery: `jaxgan.run.report.evaluate_generator`.

Features: a domain classifier (domain_classifier.py, trained by `python -m jaxgan.classifier`) for
MNIST and Fashion-MNIST at any image size (samples resized to its 28 x 28 in scoring.py); the
FID Inception (inception.py, pytorch-fid's weights) otherwise.
The real images, and the labels a classifier learns from, come from the data layer
(`jaxgan.data.load_images`, `jaxgan.data.load_labelled`), the files the trainer reads.

An evaluation returns a flat dict of floats: fid, kid, kid_std, classes_covered,
marginal_entropy, eval_s. Measured on a busy 2-core CPU (Fashion-MNIST, 10,000 samples):
make_evaluator ~15 s (reads and checksums the labelled data, loads the classifier); the first
call ~20 s (the 60,000 real training images' features, computed once and kept, and compiling);
every later call ~5 s (generates eval.num_samples images in batches of eval.batch_size,
jit-compiled once, the last batch padded; FID; KID's 100 subsets).
"""

from __future__ import annotations

from typing import Optional

from jaxgan.config import Config
from jaxgan.quality.scoring import Evaluator
from jaxgan.quality.metrics import ClassStats, FeatureStats, fid, frechet_distance, kid
from jaxgan.quality.stats_file import FidStatistics, read_stats, write_stats


def make_evaluator(config: Config) -> Optional[Evaluator]:
    """The evaluator the trainer calls every eval.every steps, or None if eval.every is 0.

    Built once per run: it loads the classifier or Inception and the real images here, and
    computes the real images' statistics on its first call. Raises JaxganError at once (before
    training starts) when the features are missing: no cached classifier for the data, or no
    Inception weights.
    """
    if config.eval.every == 0:
        return None
    return Evaluator(config)


__all__ = [
    "ClassStats",
    "Evaluator",
    "FeatureStats",
    "FidStatistics",
    "fid",
    "frechet_distance",
    "kid",
    "make_evaluator",
    "read_stats",
    "write_stats",
]
