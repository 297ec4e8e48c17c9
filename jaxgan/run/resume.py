"""What may change when a run is resumed: how long and how often, never what is trained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jaxgan.config import Config, load_yaml, validate
from jaxgan.errors import JaxganError

# Keys that may change between a run and its resumption.
RESUMABLE_CHANGES = {
    "train.epochs", "train.max_steps", "train.steps_per_dispatch", "train.log_every",
    "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints", "data.root",
    "data.cache_dir", "data.on_device", "train.num_devices", "train.on_divergence", "train.max_rollbacks",
    "train.population_program",
    # evaluation measures the run; it does not change what is trained
    "eval.every", "eval.num_samples", "eval.metric", "eval.features", "eval.inception_weights",
    "eval.num_real", "eval.batch_size",
}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _saved_recipe(saved_config: Path) -> dict[str, Any]:
    """The run's config.yaml, flattened, with keys added to the schema since at their defaults."""
    if not saved_config.exists():
        raise JaxganError(f"{saved_config}: missing; this folder was not written by jaxgan.train")
    try:
        old = load_yaml(saved_config.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise JaxganError(f"{saved_config}: unreadable ({first[:160]}); this run folder cannot be resumed") from None
    if not isinstance(old, dict):
        raise JaxganError(f"{saved_config}: not a recipe mapping; this run folder cannot be resumed")
    try:
        return _flatten(validate(old, source=str(saved_config)).to_dict())
    except JaxganError:
        return _flatten(old)


def check_resumable(saved_config: Path, config: Config) -> None:
    """Refuses to resume a run folder with a recipe that differs in what it trains."""
    old, new = _saved_recipe(saved_config), _flatten(config.to_dict())
    for key in sorted(set(old) | set(new)):
        if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key):
            raise JaxganError(
                f"{saved_config.parent}: --resume with a different recipe: {key} was "
                f"{old.get(key)!r}, now {new.get(key)!r}; use the run's own config.yaml or a new --workdir"
            )
