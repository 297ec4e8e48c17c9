"""The evaluation report of one trained generator: a JSON record and a short table.

FID (and KID's variance) depend on how many images are compared: fewer images, higher FID. The
floor beside a score is therefore computed from as many real test images as there are
generated samples (all of them, with a note, when the test split is smaller). KID is printed
x10^3, the scale the literature reports it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from jaxgan.config import load_config
from jaxgan.data import to_float
from jaxgan.quality.scoring import Evaluator, accumulate, compare

KID_SCALE = 1e3


def evaluate_generator(checkpoint: str | Path, num_samples: Optional[int] = None,
                       inception_weights: Optional[str] = None, features: Optional[str] = None,
                       num_real: Optional[int] = None) -> dict[str, Any]:
    """FID, KID and coverage of a run's (or one checkpoint's) generator, with their floors.

    Args:
      checkpoint: a run folder, its checkpoints/ folder, or checkpoints/<step>.
      num_samples: generated images (default: the run's eval.num_samples, 10,000).
      inception_weights: pytorch-fid's weights file, for RGB recipes.
      features: 'classifier' or 'inception' instead of the recipe's eval.features.
      num_real: use only the first N real training images as the reference.
    """
    from jaxgan.run.saved_generator import load_generator, run_dir_and_step
    from jaxgan.steps import make_generate

    generator = load_generator(checkpoint)
    run_dir, _ = run_dir_and_step(Path(checkpoint))
    config = load_config(run_dir / "config.yaml")
    update = {k: v for k, v in {"features": features, "num_real": num_real}.items() if v is not None}
    if update:
        config = config.model_copy(update={"eval": config.eval.model_copy(update=update)})
    evaluator = Evaluator(config, inception_weights=inception_weights, num_samples=num_samples)
    generate = make_generate(generator.gan)  # jit-compiled once, not once per batch
    generated = evaluator.measure(lambda z: generate(generator.state, z))
    return {
        "recipe": config.name,
        "run": str(run_dir),
        "step": generator.step,
        "features": evaluator.describe(),
        "class_names": evaluator.extractor.class_names,
        "generated": generated,
        "floor": matched_floor(evaluator, generated["num_images"]),
    }


def matched_floor(evaluator: Evaluator, num_images: int) -> dict:
    """Real test images against the real training images, `num_images` of them (the first
    ones; all of them when the test split is smaller): a floor at the score's sample size."""
    test = evaluator.real.test[:num_images]
    size = evaluator.extractor.batch_size
    batches = (to_float(test[start : start + size], "zero_one") for start in range(0, len(test), size))
    return compare(accumulate(evaluator.extractor, batches), evaluator.reference())


def format_table(result: dict[str, Any], top: int = 10) -> str:
    """A few lines: FID, KID, classes covered and marginal entropy beside their floors, then
    the class histogram (all classes up to 10, else the `top` most frequent)."""
    g, f, feats = result["generated"], result["floor"], result["features"]
    what = (f"{feats.get('dataset')} classifier {feats.get('checksum')} (test accuracy {feats.get('test_accuracy'):.3f})"
            if feats["name"] == "classifier" else "FID Inception pool3")
    floor_title = f"floor ({f['num_images']} real test)"
    lines = [
        f"{result['recipe']} step {result['step']}: {g['num_images']} samples vs {feats['real']}; "
        f"features: {what}, {feats['feature_dim']}-d",
        f"{'':18}{'generated':>20}{floor_title:>26}",
        f"{'FID':18}{g['fid']:>20.3f}{f['fid']:>26.3f}",
        f"{'KID x10^3':18}{_pm(g):>20}{_pm(f):>26}",
        f"{'classes covered':18}{str(g['classes_covered']) + '/' + str(g['num_classes']):>20}"
        f"{str(f['classes_covered']) + '/' + str(f['num_classes']):>26}",
        f"{'marginal entropy':18}{g['marginal_entropy']:>20.3f}{f['marginal_entropy']:>26.3f}"
        f"   (nats; max ln {g['num_classes']} = {g['max_entropy']:.3f})",
    ]
    if f["num_images"] < g["num_images"]:
        lines.append(f"note: the test split has only {f['num_images']} images, so the floor uses fewer images "
                     f"than the {g['num_images']} samples; FID falls as the count grows: compare scores at "
                     f"--num-samples {f['num_images']}")
    names = result["class_names"]
    order = range(len(names)) if len(names) <= 10 else sorted(range(len(names)), key=lambda i: -g["histogram"][i])[:top]
    cells = [f"{names[i]} {100 * g['histogram'][i]:.1f}/{100 * f['histogram'][i]:.1f}" for i in order]
    lines.append("class histogram, % generated/real test: " + ", ".join(cells))
    return "\n".join(lines)


def _pm(r: dict[str, Any]) -> str:
    return f"{KID_SCALE * r['kid']:.2f} ± {KID_SCALE * r['kid_std']:.2f}"
