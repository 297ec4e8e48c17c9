"""What the GANs learned: FID and KID, mode coverage, and the best checkpoint by them.

Public surface:

  make_evaluator(config)     the trainer's hook: None when eval.every is 0, else an Evaluator
  Evaluator                  measures generators of one recipe (evaluator.py)
  evaluate_generator(...)    the `python -m jaxgan.evaluate` report of one trained generator
  fid, kid, frechet_distance, FeatureStats, ClassStats   the maths (metrics.py)

Features: a domain classifier (classifier.py, trained by `python -m jaxgan.classifier`) for
MNIST and Fashion-MNIST; the FID Inception (inception.py, pytorch-fid's weights) otherwise.

How the trainer uses it (jaxgan/loop.py, integrated by the lead)::

    evaluator = make_evaluator(config)    # in train_and_evaluate, before the loop; None = off.
                                          # Raises JaxganError at once if the classifier or the
                                          # Inception weights are missing.
    # in _loop: add config.eval.every to `every` (when > 0) so a chunk ends on those steps, then
    if evaluator is not None and (step % config.eval.every == 0 or step == total):
        scores = evaluator(lambda z: generate(state, z))   # generate = make_generate(gan)
        run.log({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        if evaluator.is_better(scores, best):              # lower config.eval.metric wins
            best = {"step": step, **scores}
            best_checkpointer.save(state, meta)            # Checkpointer(workdir / "best", keep=1)
            (workdir / "best.json").write_text(json.dumps(best))

`scores` is a flat dict of floats: fid, kid, kid_std, classes_covered, marginal_entropy,
eval_s. On --resume, read best.json back into `best` (absent: None). Add the eval.* keys to
RESUMABLE_CHANGES (they do not change training; without them, runs whose config.yaml predates
the `eval` section cannot resume). For `python -m jaxgan.evaluate --checkpoint RUN/best/<step>`
to work, `jaxgan.trained._run_dir_and_step` must accept a parent named "best" as it accepts
"checkpoints".

Measured on a busy 2-core CPU (Fashion-MNIST, 10,000 samples): make_evaluator ~15 s (reads
and checksums the labelled data, loads the classifier); the first call ~20 s (the 60,000 real
training images' features, computed once and kept, and compiling); every later call ~5 s
(generates eval.num_samples images in batches of eval.batch_size, jit-compiled once, the last
batch padded; FID; KID's 100 subsets).
"""

from __future__ import annotations

from typing import Optional

from jaxgan.config import Config
from jaxgan.quality.evaluator import Evaluator
from jaxgan.quality.metrics import ClassStats, FeatureStats, fid, frechet_distance, kid
from jaxgan.quality.report import evaluate_generator


def make_evaluator(config: Config) -> Optional[Evaluator]:
    """The evaluator the trainer calls every eval.every steps, or None if eval.every is 0.

    Cheap to call repeatedly: the classifier or Inception and the real images' statistics are
    loaded and computed once. Raises JaxganError at once (before training starts) when the
    features are missing: no cached classifier for the data, or no Inception weights.
    """
    if config.eval.every == 0:
        return None
    return Evaluator(config)


__all__ = [
    "ClassStats",
    "Evaluator",
    "FeatureStats",
    "evaluate_generator",
    "fid",
    "frechet_distance",
    "kid",
    "make_evaluator",
]
