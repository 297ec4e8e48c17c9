"""The run folder a person opens after training: everything written to disk lives here.

    <workdir>/
      config.yaml           the resolved recipe (defaults filled in, --set applied)
      metrics.jsonl         one JSON object per log window: step, epoch, d_loss, g_loss, ...
      samples/step_NNNNNNN.png   64 images from the run's fixed noise, at intervals and at the end
      samples/progress.gif  the fixed-noise grids over training, as an animation
      samples/member_<k>/step_NNNNNNN.png   a population's member k's grids (its samples/step_*.png
                            hold a row of each member's)
      loss_curves.png       Loss_D and Loss_G against steps
      real_vs_fake.png      a batch of real images beside the last fixed-noise samples
      checkpoints/<step>/   orbax checkpoints (see jaxgan.run.checkpoint)
      tensorboard/          event files for `tensorboard --logdir <workdir>`
      summary.json          wall time, steps/s, final metrics, paths
      .jaxgan.lock          held by the process training into the folder (see jaxgan.run.lock)

Every write that fails (a full disk, a file-size limit, a folder made read-only) stops the run
with one line naming the file and the last complete checkpoint, which `--resume` continues.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
from matplotlib.figure import Figure

from jaxgan import images as image_io
from jaxgan.errors import JaxganError
from jaxgan.files import atomic_path, atomic_write
from jaxgan.run.checkpoint import kept_note
from jaxgan.run.lock import LOCK_NAME
from jaxgan.run.progress import LOG_NAMES
from jaxgan.run.tensorboard_events import Event, EventsWriter, SessionLog, tb_summary  # no torch


# What a jaxgan run folder holds (see the module docstring); anything else belongs to someone else.
RUN_ENTRIES = frozenset({"config.yaml", "metrics.jsonl", "samples", "checkpoints", "tensorboard", "summary.json",
                         "loss_curves.png", "real_vs_fake.png", "best", "best.json", LOCK_NAME})


def check_writable(workdir: Path) -> None:
    """Fails now, not after an hour of training, if the run folder cannot be written."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise JaxganError(f"{workdir}: run folder is not writable ({e.strerror}); choose another --workdir") from None


def _ours(name: str) -> bool:
    """A name a run folder may hold: its files, and the temporary ones a killed write leaves."""
    if name in RUN_ENTRIES or name.startswith(".write-test-"):
        return True
    base = name.lstrip(".").split(".tmp")[0]
    return ".tmp" in name and base in RUN_ENTRIES


def _is_recipe(path: Path) -> bool:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and {"name", "data", "model", "train"} <= set(raw)


def check_run_folder(workdir: Path) -> None:
    """Refuses a folder that holds anything but a jaxgan run: training would overwrite it."""
    if not workdir.is_dir():
        return
    foreign = sorted(entry.name for entry in workdir.iterdir() if not _ours(entry.name))
    if not foreign and (not (workdir / "config.yaml").exists() or _is_recipe(workdir / "config.yaml")):
        return
    what = f"it holds {foreign[0]!r}" if foreign else "its config.yaml is not a jaxgan recipe"
    more = f" and {len(foreign) - 1} other entr{'y' if len(foreign) == 2 else 'ies'}" if len(foreign) > 1 else ""
    raise JaxganError(f"{workdir}: not empty and not a jaxgan run folder ({what}{more}); nothing was written: "
                      "choose a new or empty --workdir")


def parse_metrics(path: Path, text: str) -> list[dict[str, Any]]:
    """The records of metrics.jsonl. A last line cut short (the disk filled mid-write) is
    dropped; damage anywhere else is named."""
    numbered = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for number, line in numbered:
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer step")
        except ValueError as e:
            if number == numbered[-1][0]:
                break
            raise JaxganError(f"{path}:{number}: not a metrics record ({str(e)[:80]}); remove the line or "
                              "choose another --workdir") from None
        records.append(record)
    return records


class _TensorBoardWriter:
    """A TensorBoard event file written on the caller's thread, so that a failed write (a
    full disk) raises where it happens; tensorboardX's own writer writes from a thread of its
    own, where such a failure would go unreported."""

    def __init__(self, logdir: Path, purge_step: int):
        logdir.mkdir(exist_ok=True)
        self._writer = EventsWriter(str(logdir / "events"))
        if purge_step:  # hides events logged after the checkpoint that training restarts from
            self._writer.write_event(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))
        self._writer.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(tb_summary.scalar(tag, value), step)

    def image(self, tag: str, hwc: np.ndarray, step: int) -> None:
        self._write(tb_summary.image(tag, hwc, dataformats="HWC"), step)

    def _write(self, summary, step: int) -> None:
        self._writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def close_all(*things, after_error: bool = False) -> None:
    """Closes each of `things` (None skipped). After an error, a failure to close is dropped,
    so that the error that stopped the run is the one reported; otherwise the first failure
    is raised once everything is closed."""
    first: Optional[BaseException] = None
    for thing in things:
        if thing is None:
            continue
        try:
            thing.close()
        except Exception as e:  # noqa: BLE001 - re-raised below unless an earlier error stands
            first = first or e
    if first is not None and not after_error:
        raise first


class RunFolder:
    """Writes metrics, images and plots of one run. Every method is a side effect on disk.

    In a multi-process job only process 0 writes (`enabled`); the others' calls do nothing.
    A failed write raises a one-line JaxganError naming the file and the last complete
    checkpoint.
    """

    def __init__(self, workdir: str | Path, start_step: int = 0, enabled: bool = True):
        self.path = Path(workdir)
        self.enabled = enabled
        self.samples_dir = self.path / "samples"
        self.metrics_path = self.path / "metrics.jsonl"
        self._failed = False
        if not enabled:
            return
        check_writable(self.path)
        with self._writing(self.path):
            self.samples_dir.mkdir(exist_ok=True)
            self.truncate_metrics_after(start_step)
            self._metrics = self.metrics_path.open("a")
            self._tb = _TensorBoardWriter(self.path / "tensorboard", start_step)

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turns a failed write of `path` into one line that says what --resume continues from."""
        try:
            yield
        except OSError as e:
            self._failed = True
            reason = e.strerror or (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise JaxganError(f"{path}: could not be written ({reason}); {kept_note(self.path / 'checkpoints')}") from None
        except JaxganError as e:
            if "could not be written" not in str(e):
                raise
            self._failed = True
            raise JaxganError(f"{e}; {kept_note(self.path / 'checkpoints')}") from None

    def truncate_metrics_after(self, step: int) -> None:
        """On resume or rollback, drops lines logged after the step training restarts from."""
        if not self.enabled or not self.metrics_path.exists():
            return
        kept = [line for line in self.read_metrics() if line["step"] <= step]
        atomic_write(self.metrics_path, "".join(json.dumps(line) + "\n" for line in kept))
        if getattr(self, "_metrics", None) is not None:  # appends go on in the new file
            self._metrics.close()
            self._metrics = self.metrics_path.open("a")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return parse_metrics(self.metrics_path, self.metrics_path.read_text(errors="replace"))

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._writing(self.metrics_path):
            self._metrics.write(json.dumps(record) + "\n")
            self._metrics.flush()
        with self._writing(self.path / "tensorboard"):
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._tb.scalar(f"train/{key}", value, record["step"])
            self._tb.flush()

    def save_samples(self, step: int, images: np.ndarray, value_range, nrow: int = 8) -> Path:
        path = self.samples_dir / f"step_{step:07d}.png"
        if not self.enabled:
            return path
        grid = image_io.to_uint8(image_io.make_grid(images, nrow=nrow, value_range=value_range))
        self._save_png(grid, path)
        with self._writing(self.path / "tensorboard"):
            self._tb.image("samples", grid, step)
            self._tb.flush()
        return path

    def save_member_samples(self, step: int, k: int, images: np.ndarray, value_range) -> Path:
        """Member k's grid of a population run, in samples/member_<k>/."""
        path = self.samples_dir / f"member_{k}" / f"step_{step:07d}.png"
        if self.enabled:
            with self._writing(path.parent):
                path.parent.mkdir(exist_ok=True)
            self._save_png(image_io.to_uint8(image_io.make_grid(images, value_range=value_range)), path)
        return path

    def _save_png(self, pixels: np.ndarray, path: Path) -> None:
        from PIL import Image

        with self._writing(path), atomic_path(path) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")

    def save_progress_gif(self) -> Path:
        """An animation of every sample grid written so far, in step order."""
        from PIL import Image

        path = self.samples_dir / "progress.gif"
        if not self.enabled:
            return path
        frames = [Image.open(p).convert("RGB") for p in sorted(self.samples_dir.glob("step_*.png"))]
        if frames:
            with self._writing(path), atomic_path(path) as tmp:
                frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=500, loop=0)
        return path

    def plot_losses(self) -> Path:
        """The DCGAN tutorial's figure: Generator and Discriminator loss during training."""
        path = self.path / "loss_curves.png"
        if not self.enabled:
            return path
        lines = self.read_metrics()
        fig = Figure(figsize=(10, 5))
        ax = fig.subplots()
        members = sorted({line["member"] for line in lines if isinstance(line.get("member"), int)})
        for member in members or [None]:  # a population's members each get their own curves
            own = [line for line in lines if line.get("member") == member]
            steps, suffix = [line["step"] for line in own], "" if member is None else f" member {member}"
            for key in ("g_loss", "d_loss"):
                label = LOG_NAMES[key].replace("Loss_", "") + suffix
                ax.plot(steps, [line.get(key, math.nan) for line in own], label=label)
        ax.set_title("Generator and Discriminator Loss During Training")
        ax.set_xlabel("iterations")
        ax.set_ylabel("Loss")
        ax.legend()
        fig.tight_layout()
        self._save_figure(fig, path)
        return path

    def _save_figure(self, fig, path: Path) -> None:
        with self._writing(path), atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")

    def real_vs_fake(self, real: np.ndarray, fake: np.ndarray, value_range) -> Path:
        """The DCGAN tutorial's closing figure: real images beside generated ones."""
        path = self.path / "real_vs_fake.png"
        if not self.enabled:
            return path
        fig = Figure(figsize=(12, 6.5))
        axes = fig.subplots(1, 2)
        for ax, title, batch in ((axes[0], "Real Images", real), (axes[1], "Fake Images", fake)):
            ax.imshow(image_io.make_grid(batch, value_range=value_range))
            ax.set_title(title)
            ax.axis("off")
        fig.tight_layout()
        self._save_figure(fig, path)
        return path

    def write_summary(self, summary: dict[str, Any]) -> Path:
        path = self.path / "summary.json"
        if not self.enabled:
            return path
        with self._writing(path):
            atomic_write(path, json.dumps(summary, indent=2) + "\n")
        return path

    def close(self) -> None:
        """Closes the files. After a failed write it closes them quietly: the first failure is
        the one reported, never one of its consequences."""
        if not self.enabled:
            return
        failed_before = self._failed
        errors = []
        for path, handle in ((self.metrics_path, self._metrics), (self.path / "tensorboard", self._tb)):
            try:
                with self._writing(path):
                    handle.close()
            except JaxganError as e:
                errors.append(e)
        if errors and not failed_before:
            raise errors[0]
