"""The evaluation report of one trained generator: a JSON record and a short table.

FID (and KID's variance) depend on how many images are compared: fewer images, higher FID. The
floor beside a score is therefore computed from as many real test images as there are
generated samples (all of them, with a note, when the test split is smaller). KID is printed
x10^3, the scale the literature reports it in.

Which FID statistics were used is part of the result ("statistics"): the real images'
computed here (their split and count) or read from a pytorch-fid .npz file, and the generated
samples'. Statistics files are read and written here (jaxgan/quality/stats_file.py): the real
images' (--save-stats), the samples' (--fake-stats), and, for a domain classifier, those of
all its training images in its cache folder (`domain_classifier.stats_path`), named by its
checksum, whenever an evaluation computed them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional

from jaxgan.config import Config, load_config
from jaxgan.errors import JaxganError
from jaxgan.quality import stats_file
from jaxgan.quality.scoring import Evaluator, SetStats

KID_SCALE = 1e3


@dataclasses.dataclass(frozen=True)
class StatsFiles:
    """The FID statistics files of one evaluation, in pytorch-fid's .npz format."""

    real: Optional[str] = None  # score against this file instead of the real images' statistics
    save_real: Optional[str] = None  # write the real images' statistics here
    save_fake: Optional[str] = None  # write the generated samples' statistics here


def with_eval(config: Config, features: Optional[str] = None, num_real: Optional[int] = None) -> Config:
    """`config` with eval.features and eval.num_real replaced where given."""
    update = {k: v for k, v in {"features": features, "num_real": num_real}.items() if v is not None}
    return config.model_copy(update={"eval": config.eval.model_copy(update=update)}) if update else config


def make_evaluator(config: Config, files: StatsFiles = StatsFiles(), inception_weights: Optional[str] = None,
                   num_samples: Optional[int] = None, train_classifier: bool = False,
                   log: Callable[[str], None] = print) -> Evaluator:
    """An Evaluator of `config`, scoring against `files.real` when given (checked here)."""
    evaluator = Evaluator(config, inception_weights=inception_weights, num_samples=num_samples,
                          train_classifier=train_classifier, log=log)
    if files.real is not None:
        stats = stats_file.read_stats(files.real, evaluator.extractor.feature_dim, evaluator.features_identity())
        evaluator.use_real_stats(stats, files.real)
    return evaluator


def evaluate_generator(checkpoint: str | Path, num_samples: Optional[int] = None,
                       inception_weights: Optional[str] = None, features: Optional[str] = None,
                       num_real: Optional[int] = None, files: StatsFiles = StatsFiles(),
                       train_classifier: bool = False, log: Callable[[str], None] = print,
                       member: Optional[int] = None) -> dict[str, Any]:
    """FID, KID and coverage of a run's (or one checkpoint's) generator, with their floors.

    Args:
      checkpoint: a run folder, its checkpoints/ folder, or checkpoints/<step>.
      num_samples: generated images (default: the run's eval.num_samples, 10,000).
      inception_weights: pytorch-fid's weights file, for RGB recipes.
      features: 'classifier' or 'inception' instead of the recipe's eval.features.
      num_real: use only the first N real training images as the reference.
      files: FID statistics files to score against and to write.
      train_classifier: train the domain classifier if none is cached (else fail, naming the command).
      member: of a population run, the member to score.
    """
    from jaxgan.run.saved_generator import load_generator, run_dir_and_step

    generator = load_generator(checkpoint, member)
    run_dir, _ = run_dir_and_step(Path(checkpoint))
    config = with_eval(load_config(run_dir / "config.yaml"), features, num_real)
    evaluator = make_evaluator(config, files, inception_weights, num_samples, train_classifier, log)
    return {"recipe": config.name, "run": str(run_dir), **_score(generator, evaluator, files)}


def _score(generator, evaluator: Evaluator, files: StatsFiles) -> dict[str, Any]:
    """One generator's scores, floor and statistics record."""
    from jaxgan.steps import make_generate

    generate = make_generate(generator.gan)  # jit-compiled once, not once per batch
    samples = evaluator.generated_stats(lambda z: generate(generator.state, z))
    generated = evaluator.score(samples)
    return {
        "step": generator.step,
        "features": evaluator.describe(),
        "class_names": evaluator.extractor.class_names,
        "generated": generated,
        "floor": evaluator.floor(generated["num_images"]),
        "statistics": write_statistics(evaluator, samples, files),
    }


def evaluate_members(checkpoint: str | Path, num_samples: Optional[int] = None,
                     inception_weights: Optional[str] = None, features: Optional[str] = None,
                     num_real: Optional[int] = None, train_classifier: bool = False,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """`evaluate_generator` of every member of a population run (one evaluator for all), with
    the mean and standard deviation of each score over the members."""
    from jaxgan.run.saved_generator import load_members, run_dir_and_step

    generators = load_members(checkpoint)
    run_dir, _ = run_dir_and_step(Path(checkpoint))
    config = with_eval(load_config(run_dir / "config.yaml"), features, num_real)
    evaluator = make_evaluator(config, StatsFiles(), inception_weights, num_samples, train_classifier, log)
    members = [{"recipe": config.name, "run": str(run_dir), "member": k, **_score(g, evaluator, StatsFiles())}
               for k, g in enumerate(generators)]
    return {"recipe": config.name, "run": str(run_dir), "population": len(members), "members": members,
            "spread": member_spread(members)}


def member_spread(members: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (ddof 1) over the members of each score they all have."""
    import numpy as np

    out = {}
    for key in ("fid", "kid", "classes_covered", "marginal_entropy"):
        values = [m["generated"][key] for m in members if m["generated"].get(key) is not None]
        if len(values) == len(members):
            out[key] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def format_spread(result: dict[str, Any]) -> str:
    """One line: each score's mean ± std over the population's members."""
    def cell(key: str, v: dict[str, float]) -> str:
        scale, name = (KID_SCALE, "KID x10^3") if key == "kid" else (1.0, key)
        return f"{name} {v['mean'] * scale:.3f} ± {v['std'] * scale:.3f}"

    cells = [cell(key, v) for key, v in result["spread"].items()]
    return f"{result['recipe']} population of {result['population']} members, mean ± std: " + ", ".join(cells)


def save_real_stats(config: Config, path: str, inception_weights: Optional[str] = None,
                    train_classifier: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Writes the real training images' FID statistics of `config` to `path`; returns their record."""
    evaluator = make_evaluator(config, StatsFiles(), inception_weights, None, train_classifier, log)
    return write_statistics(evaluator, None, StatsFiles(save_real=path))["real"]


def write_statistics(evaluator: Evaluator, samples: Optional[SetStats], files: StatsFiles) -> dict[str, Any]:
    """Writes the statistics `files` asks for (and the classifier's cache); says which were used."""
    real = evaluator.real_stats()
    written = [stats_file.write_stats(files.save_real, real)] if files.save_real else []
    cached = _cache_classifier_stats(evaluator)
    record = {"real": {**_describe(real, evaluator.real_stats_source),
                       "written_to": [str(p) for p in written + ([cached] if cached else [])]}}
    if samples is not None:
        fake = stats_file.from_feature_stats(samples.features, "generated", evaluator.features_identity())
        if files.save_fake:
            stats_file.write_stats(files.save_fake, fake)
        written_fake = [files.save_fake] if files.save_fake else []
        record["generated"] = {**_describe(fake, "computed"), "written_to": written_fake}
    return record


def _describe(stats: stats_file.FidStatistics, source: str) -> dict[str, Any]:
    return {"source": source, "split": stats.split, "num_images": stats.num_images, "features": stats.features}


def _cache_classifier_stats(evaluator: Evaluator) -> Optional[Path]:
    """The domain classifier's statistics of all its training images, into its cache folder,
    when this evaluation computed them and the cache lacks them (or holds another weights')."""
    from jaxgan.quality import domain_classifier as clf

    classifier = getattr(evaluator.extractor, "classifier", None)
    if (not isinstance(classifier, clf.DomainClassifier) or evaluator.real_stats_source != "computed"
            or evaluator.eval_cfg.num_real is not None):
        return None
    path, identity = clf.stats_path(classifier), evaluator.features_identity()
    if path.is_file():
        try:
            stats_file.read_stats(path, classifier.feature_dim, identity)
            return None
        except JaxganError:  # unreadable, or another training's weights: replaced below
            pass
    return stats_file.write_stats(path, evaluator.real_stats())


def format_table(result: dict[str, Any], top: int = 10) -> str:
    """A few lines: FID, KID, classes covered and marginal entropy beside their floors, then
    the class histogram (all classes up to 10, else the `top` most frequent), then which FID
    statistics were used."""
    g, f, feats = result["generated"], result["floor"], result["features"]
    what = (f"{feats.get('dataset')} classifier {feats.get('checksum')} (test accuracy {feats.get('test_accuracy'):.3f})"
            if feats["name"] == "classifier" else "FID Inception pool3")
    if feats.get("resize"):
        what += f", {feats['resize']}"
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
    return "\n".join(lines + statistics_lines(result["statistics"]))


def statistics_lines(statistics: dict[str, Any]) -> list[str]:
    """Which FID statistics the scores used, and the files written."""
    real, lines = statistics["real"], []
    if real["source"] == "computed":
        where = "computed from the real images"
    else:
        where = f"read from {real['source']} (KID needs real features, which a statistics file does not hold)"
    lines.append(f"FID statistics: real {where}: {_split_and_count(real)}")
    if "generated" in statistics:
        lines.append(f"FID statistics: generated computed from {statistics['generated']['num_images']} samples")
    written = [*real["written_to"], *statistics.get("generated", {}).get("written_to", [])]
    lines += [f"wrote {path}" for path in written]
    return lines


def _split_and_count(stats: dict[str, Any]) -> str:
    split = f"{stats['split']} split" if stats.get("split") else "split not recorded"
    count = f"{stats['num_images']} images" if stats.get("num_images") is not None else "image count not recorded"
    return f"{split}, {count}"


def _pm(r: dict[str, Any]) -> str:
    if r["kid"] is None:
        return "n/a"
    return f"{KID_SCALE * r['kid']:.2f} ± {KID_SCALE * r['kid_std']:.2f}"
