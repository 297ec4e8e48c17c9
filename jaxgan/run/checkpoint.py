"""Checkpoints of the whole GAN state with orbax: resumable, atomic, the newest K kept.

A checkpoint holds the GANState as a plain nested dict of arrays (params, optimiser states,
BatchNorm statistics, step, RNG key) plus a JSON record (recipe name, step, epoch and batch
position). Orbax writes each step to a temporary directory (`<step>.orbax-checkpoint-tmp`)
and renames it to `<step>/` only when complete, so an interrupted save never replaces a good
checkpoint and is never listed as one. A process killed mid-save leaves that temporary
directory behind; the run's writer removes such leftovers when it opens the run again
(`discard_partial`). Deleting an old checkpoint (beyond the newest K) is made atomic the same
way: orbax renames it into `.deleted/` and only then is it removed file by file, so a kill
during the deletion never leaves a half-deleted `<step>/` that looks like a checkpoint.

Each checkpoint carries a manifest of its files' sizes and sha256 (`jaxgan.run.manifest`),
written before orbax's final rename, and its record says so. A restore checks the manifest
first. A checkpoint whose files differ from it, whose manifest is missing though its record
says it was written with one, that is not a folder, or whose reading raises anything at all is
damaged: it is named in one `warning:` line and the newest older one that can be read is used
instead (`Checkpointer.restore` without a step, and `Checkpointer.restore_newest`); the
trainer's `--resume`, `jaxgan.sample`, `jaxgan.evaluate` and the converter all restore through
them. A checkpoint written before manifests existed is restored with a `note:` line. The
trainer also moves a damaged one aside, to `checkpoints/.damaged/<step>` (never deleting it),
so that training writes that step again.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from jaxgan.errors import JaxganError
from jaxgan.gan import GANState
from jaxgan.population import step_of
from jaxgan.run.manifest import MANIFEST_NAME, ManifestMismatch, check_manifest, write_manifest

# What orbax puts in the name of a checkpoint that is still being written.
PARTIAL_MARK = ".orbax-checkpoint-tmp"
# Where orbax moves a checkpoint it retires, before we delete it (not a step name).
DELETED_DIR = ".deleted"
# Where the trainer moves a checkpoint that cannot be read (kept for a person to look at).
DAMAGED_DIR = ".damaged"
# The key of a checkpoint's record that says the checkpoint was written with a manifest.
RECORD_MANIFEST_KEY = "manifest"
# Room kept free beside the checkpoints for sample images, plots and logs.
OTHER_FILES_BYTES = 16 * 2**20


class DamagedCheckpoint(JaxganError):
    """A checkpoint whose files cannot be read back (the recipe fits it, or cannot be checked)."""


def complete_steps(directory: Path) -> list[int]:
    """The steps whose checkpoint is complete on disk (orbax names `<step>/` only once written)."""
    if not Path(directory).is_dir():
        return []
    return sorted(int(p.name) for p in Path(directory).iterdir() if p.name.isdigit() and p.is_dir())


def kept_note(directory: Path, failed_step: Optional[int] = None) -> str:
    """What a run stopped by a failed write leaves to continue from, as the end of its error line."""
    steps = [s for s in complete_steps(directory) if s != failed_step]
    return (f"the last complete checkpoint, step {steps[-1]}, is kept: free some space and --resume" if steps
            else "there is no complete checkpoint yet: free some space and start again")


def state_bytes(state) -> int:
    """The size of one checkpoint of `state`, uncompressed."""
    return sum(int(np.prod(np.shape(x))) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(state))


def tensor_name(path) -> str:
    """A pytree key path as dotted text: ('g', 'params', 'fc0', 'kernel') -> g.params.fc0.kernel."""
    return ".".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)


# What a failed write raises from orbax: OSError, or tensorstore's ValueError in its threads.
_WRITE_ERRORS = (OSError, ValueError, RuntimeError)


def _cause(e: BaseException) -> str:
    """The short reason of a failed read or write: 'No space left on device', 'File too large', ..."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    code = re.search(r"os_error_code='?(\d+)", str(e))
    if code:
        return os.strerror(int(code.group(1)))
    text = str(e).strip()
    return (text.splitlines()[0][:160] if text else type(e).__name__)


def _without_manifest_key(record: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's record as its writer gave it (without the key `save` adds)."""
    return {k: v for k, v in record.items() if k != RECORD_MANIFEST_KEY}


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


class Checkpointer:
    """Saves and restores GANStates under `directory/<step>/`."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).absolute()
        self.keep = keep
        self._writer = False  # set by save/discard_partial: only a writer empties .deleted/ on close
        self._in_flight: Optional[int] = None  # the step of the save orbax may still be writing
        self._saving: Optional[int] = None  # the step of the latest save, for its manifest
        self._failed = False
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, todelete_subdir=DELETED_DIR,
                # called by orbax's writer thread once every file is final, before the rename
                async_options=ocp.AsyncOptions(post_finalization_callback=self._write_manifest)),
        )

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def discard_partial(self) -> list[str]:
        """Removes checkpoints left half-written by a killed process; returns their names.

        Only the process that writes the run may call this (the trainer, on start): a reader
        such as `jaxgan.sample` would delete a save that a live training run is making.
        """
        self._writer = True
        removed = self._purge_deleted()
        if self.directory.is_dir():
            for entry in sorted(self.directory.iterdir()):
                if PARTIAL_MARK in entry.name:
                    _remove(entry)
                    removed.append(entry.name)
        if removed:
            self.manager.reload()
        return removed

    def _purge_deleted(self) -> list[str]:
        """Removes the checkpoints orbax has retired into .deleted/ (none being moved there now)."""
        removed = []
        trash = self.directory / DELETED_DIR
        if trash.is_dir():
            for entry in sorted(trash.iterdir()):
                _remove(entry)
                removed.append(f"{DELETED_DIR}/{entry.name}")
        return removed

    def save(self, state: GANState, meta: dict[str, Any]) -> None:
        step = step_of(state)
        if step in self.manager.all_steps():
            return
        tree = serialization.to_state_dict(state)
        self._writer = True
        self.wait()  # the previous save and its retirements are done (or their error raised)
        self._purge_deleted()
        self._saving = step
        meta = {**meta, RECORD_MANIFEST_KEY: MANIFEST_NAME}
        try:
            self.manager.save(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)),
            )
        except _WRITE_ERRORS as e:
            raise self._write_error(step, e) from None
        self._in_flight = step

    def _write_manifest(self) -> None:
        write_manifest(self.directory / f"{self._saving}{PARTIAL_MARK}")

    def _write_error(self, step: Optional[int], e: BaseException) -> JaxganError:
        self._failed = True
        what = f"the checkpoint of step {step}" if step is not None else "a checkpoint"
        return JaxganError(f"{self.directory}: {what} could not be written ({_cause(e)}); "
                           f"{kept_note(self.directory, step)}")

    def check_room(self, state: GANState, workdir: Path) -> None:
        """Fails before training if the disk cannot take what this run will newly write: the
        checkpoints up to keep+1 (one is written while the oldest still exists), counting those
        already here, plus room for images and logs."""
        per_checkpoint = state_bytes(state)
        existing = len(complete_steps(self.directory))
        new = max(self.keep + 1 - existing, 1)
        need = per_checkpoint * new + OTHER_FILES_BYTES
        try:
            free = shutil.disk_usage(workdir).free
        except OSError:
            return
        if free < need:
            beside = f" beside the {existing} already written" if existing else ""
            raise JaxganError(
                f"{workdir}: {free / 2**20:.1f} MiB free on its disk, but the run needs about {need / 2**20:.1f} MiB "
                f"more ({new} new checkpoint{'s' if new > 1 else ''} of {per_checkpoint / 2**20:.1f} MiB{beside}, "
                "images and logs); free some space, lower train.keep_checkpoints or choose another --workdir"
            )

    def check_fits(self, template: GANState, step: int) -> None:
        """Refuses a checkpoint whose tensors differ from `template`'s, naming the first one."""
        try:
            saved = ocp.StandardCheckpointHandler().metadata(self.directory / str(step) / "state")
            saved = getattr(saved, "tree", saved)
            flat_saved = {tensor_name(p): leaf for p, leaf in jax.tree_util.tree_leaves_with_path(saved)}
        except Exception:  # noqa: BLE001 - unreadable metadata: the restore below reports it
            return
        where = self.directory / str(step)
        expected = {tensor_name(p): leaf for p, leaf in
                    jax.tree_util.tree_leaves_with_path(serialization.to_state_dict(template))}
        # parameters first: they name the layer a person recognises; optimiser state after
        for name in sorted(expected, key=lambda n: (".params." not in f".{n}.", n)):
            want = tuple(np.shape(expected[name]))
            if name not in flat_saved:
                raise JaxganError(
                    f"{where}: checkpoint has no tensor {name} (this recipe's model needs shape {want}); "
                    "was it written by another recipe?"
                )
            got = getattr(flat_saved[name], "shape", None)
            if got is not None and tuple(got) != want:
                raise JaxganError(
                    f"{where}: tensor {name} has shape {tuple(got)} in the checkpoint but {want} in this "
                    "recipe's model; was it written by another recipe or for images of another size?"
                )
        extra = sorted(set(flat_saved) - set(expected))
        if extra:
            raise JaxganError(
                f"{where}: checkpoint holds tensor {extra[0]}, which this recipe's model does not have; "
                "was it written by another recipe?"
            )

    def restore(self, template: GANState, step: Optional[int] = None) -> tuple[GANState, dict[str, Any]]:
        """Restores into the structure of `template` (a freshly initialised state): checkpoint
        `step`, or without one the newest that can be read (see `restore_newest`)."""
        state, meta, _ = self.restore_newest(lambda meta: template, step)
        return state, meta

    def restore_newest(self, make_template: Callable[[dict[str, Any]], GANState],
                       step: Optional[int] = None) -> tuple[GANState, dict[str, Any], int]:
        """(state, record, step) of checkpoint `step`, or without one of the newest readable one.

        `make_template(record)` builds the state to restore into from the checkpoint's JSON
        record (e.g. from its image shape). A damaged checkpoint is named on stderr and the
        next older one is tried; a checkpoint of another model is refused.
        """
        candidates = self._candidates(step)
        for n, candidate in enumerate(candidates):
            try:
                state, meta = self._restore_checked(make_template, candidate)
                return state, meta, candidate
            except DamagedCheckpoint as e:
                if n + 1 == len(candidates):
                    older = "" if step is not None else "; no older checkpoint can be read either"
                    raise DamagedCheckpoint(f"{e}{older}") from None
                print(f"warning: {e}; using the next older checkpoint, step {candidates[n + 1]}",
                      file=sys.stderr, flush=True)
                self._set_aside(candidate)
        raise AssertionError("unreachable")

    def _candidates(self, step: Optional[int]) -> list[int]:
        """The steps to try, newest first: `step` alone, or every entry named as a step (orbax
        lists only folders; a step-named file is a damaged checkpoint, named like one)."""
        steps = self.all_steps()
        if step is not None:
            if step not in steps and not (self.directory / str(step)).exists():
                here = ", ".join(map(str, steps)) or "none"
                raise JaxganError(f"{self.directory / str(step)}: no such checkpoint (steps in {self.directory}: {here})")
            return [step]
        named = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()] if self.directory.is_dir() else []
        candidates = sorted(set(steps) | set(named), reverse=True)
        if not candidates:
            raise JaxganError(f"{self.directory}: no checkpoint to resume from")
        return candidates

    def _restore_checked(self, make_template: Callable[[dict[str, Any]], GANState],
                         step: int) -> tuple[GANState, dict[str, Any]]:
        """Checkpoint `step`, its files checked against its manifest first. Anything raised while
        reading it makes it damaged, but for a refusal that it does not fit the recipe."""
        folder = self.directory / str(step)
        try:
            if not folder.is_dir():
                raise DamagedCheckpoint(f"{folder}: checkpoint is damaged (a file, not a checkpoint folder)")
            checked = check_manifest(folder)
            record = self._read_record(step)
            if not checked and record.get(RECORD_MANIFEST_KEY):
                raise DamagedCheckpoint(f"{folder}: checkpoint is damaged (its manifest {MANIFEST_NAME} is missing, "
                                        "though its record says it was written with one)")
            restored = self._restore_step(make_template(_without_manifest_key(record)), step)
        except ManifestMismatch as e:
            raise DamagedCheckpoint(f"{folder}: checkpoint is damaged ({e})") from None
        except JaxganError:
            raise
        except Exception as e:  # noqa: BLE001 - orbax and tensorstore raise bare Exception too
            raise DamagedCheckpoint(f"{folder}: checkpoint is damaged ({_cause(e)})") from None
        if not checked:
            print(f"note: {folder}: written before checkpoints carried a manifest ({MANIFEST_NAME}); "
                  "restored without checking its files", file=sys.stderr, flush=True)
        return restored

    def read_meta(self, step: int) -> dict[str, Any]:
        """The JSON record saved beside checkpoint `step` (recipe, step, epoch, image shape)."""
        return _without_manifest_key(self._read_record(step))

    def _read_record(self, step: int) -> dict[str, Any]:
        try:
            meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except (ValueError, KeyError, TypeError, OSError, RuntimeError) as e:
            raise DamagedCheckpoint(f"{self.directory / str(step)}: checkpoint record is damaged or missing "
                                    f"({_cause(e)})") from None
        if not isinstance(meta, dict):
            raise DamagedCheckpoint(f"{self.directory / str(step)}: checkpoint record is not a JSON object")
        return dict(meta)

    def _restore_step(self, template: GANState, step: int) -> tuple[GANState, dict[str, Any]]:
        self.check_fits(template, step)
        target = serialization.to_state_dict(template)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
            )
        except (ValueError, KeyError, TypeError, OSError, RuntimeError) as e:
            raise DamagedCheckpoint(
                f"{self.directory / str(step)}: checkpoint is damaged or does not fit this recipe's model "
                f"({_cause(e)})"
            ) from None
        state = serialization.from_state_dict(template, restored["state"])
        return state, _without_manifest_key(dict(restored["meta"]))

    def _set_aside(self, step: int) -> None:
        """The trainer moves a damaged checkpoint out of the step list, so it is written again."""
        if not self._writer:
            return
        aside = self.directory / DAMAGED_DIR
        aside.mkdir(exist_ok=True)
        target = aside / str(step)
        _remove(target)
        os.replace(self.directory / str(step), target)
        self.manager.reload()

    def wait(self) -> None:
        """Blocks until the save in flight is on disk; a failed write becomes a JaxganError."""
        try:
            self.manager.wait_until_finished()
        except _WRITE_ERRORS as e:
            raise self._write_error(self._in_flight, e) from None
        finally:
            self._in_flight = None

    def close(self) -> None:
        try:
            self.manager.close()
        except _WRITE_ERRORS as e:
            if not self._failed:  # else the first failure has been reported already
                raise self._write_error(self._in_flight, e) from None
        if self._writer:
            self._purge_deleted()
