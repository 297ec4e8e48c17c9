"""What the GANs learned: FID and KID, mode coverage, and the best checkpoint by them.

Public surface:

  make_evaluator(config)     the trainer's hook: None when eval.every is 0, else an Evaluator
  Evaluator                  measures generators of one recipe (evaluator.py)
  evaluate_generator(...)    the `python -m jaxgan.evaluate` report of one trained generator
  fid, kid, frechet_distance, FeatureStats, ClassStats   the maths (metrics.py)

Features: a domain classifier (classifier.py, trained by `python -m jaxgan.classifier`) for
MNIST and Fashion-MNIST; the FID Inception (inception.py, pytorch-fid's weights) otherwise.

How the trainer uses it (jaxgan/trainer.py, integrated by the lead)::

    evaluator = make_evaluator(config)            # once, before the loop; None = off
    ...
    if evaluator is not None and (step % config.eval.every == 0 or step == total):
        scores = evaluator(lambda z: generate(state, z))    # generate = make_generate(gan)
        run.log({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        if evaluator.is_better(scores, best):               # lower eval.metric is better
            best = {"step": step, **scores}
            best_checkpointer.save(state, {...})            # a second Checkpointer(keep=1)
            (workdir / "best.json").write_text(json.dumps(best))

The first call computes the real images' features (seconds for Fashion-MNIST's 60,000 on a
CPU) and keeps them; every later call only generates eval.num_samples images and measures
them. Its errors are JaxganErrors (no classifier: the message gives the command to train it).
"""

from __future__ import annotations

from typing import Optional

from jaxgan.config import Config
from jaxgan.evaluation.evaluator import Evaluator
from jaxgan.evaluation.metrics import ClassStats, FeatureStats, fid, frechet_distance, kid
from jaxgan.evaluation.report import evaluate_generator


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
