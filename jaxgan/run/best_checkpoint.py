"""The checkpoint with the best evaluation score so far, kept apart from the latest ones.

    <workdir>/best/<step>/   the checkpoint (orbax), one at a time
    <workdir>/best.json      its step and scores; read back on --resume
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import json

from jaxgan.run.checkpoint import Checkpointer
from jaxgan.files import atomic_write_json
from jaxgan.gan import GANState


class BestCheckpoint:
    """Keeps a state when an evaluator says its scores beat the best so far."""

    def __init__(self, workdir: Path, start_step: int):
        self.directory = workdir / "best"
        self.record_path = workdir / "best.json"
        self.record: Optional[dict[str, Any]] = None
        if start_step and self.record_path.exists():
            record = json.loads(self.record_path.read_text())
            self.record = record if record.get("step", 0) <= start_step else None
        self._checkpointer: Optional[Checkpointer] = None

    def offer(self, step: int, scores: dict[str, float], evaluator, state: GANState, meta: dict[str, Any]) -> bool:
        """Keeps `state` if its scores beat the best so far; True if it did."""
        if not evaluator.is_better(scores, self.record):
            return False
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.directory, keep=1)
        self._checkpointer.save(state, meta)
        self._checkpointer.wait()
        self.record = {"step": step, **scores}
        atomic_write_json(self.record_path, self.record)
        return True

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
