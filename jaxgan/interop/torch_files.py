"""torch checkpoint files: torch_ref's checkpoints and the seeds' own state_dicts, read and written.

Read: a torch_ref checkpoint (both networks, optimiser states, step) or the seeds' files, one
bare state_dict per network (`torch.save(netG.state_dict(), 'netG.pth')`), into the structure
`weights.from_torch` takes; a missing discriminator or optimiser state is initialised fresh.
Written: a torch_ref checkpoint, or netG.pth and netD.pth as the seeds save them. Every file
is read with `torch.load(weights_only=True)`: a pickle that would run code is refused.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from jaxgan.config import Config
from jaxgan.errors import JaxganError
from jaxgan.gan import GANState
from jaxgan.interop.layouts import NETS
from jaxgan.interop.weights import to_torch

def _to_tensors(obj):
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return type(obj)((k, _to_tensors(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_to_tensors(v) for v in obj]
    return obj


def save_torch_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """Writes a checkpoint of numpy arrays as a torch .pt file (tensors), atomically."""
    import torch

    from jaxgan.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save(_to_tensors(dict(checkpoint)), tmp)
    return Path(path)


def load_torch_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a torch_ref .pt checkpoint with `weights_only=True` (no code runs on load)."""
    import pickle

    import torch

    path = Path(path)
    if path.is_dir():
        raise JaxganError(f"{path}: is a folder; give the checkpoint file (e.g. netG.pth)")
    if not path.is_file():
        raise JaxganError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        globals_named = re.search(r"GLOBAL (\S+)", str(e))
        if globals_named is None:  # not a pickle at all
            raise JaxganError(f"{path}: not a file torch.load can read (not a torch checkpoint)") from None
        raise JaxganError(f"{path}: refused, its pickle would run code or build objects other than tensors "
                          f"(it names {globals_named.group(1)}; read with torch.load(weights_only=True))") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise JaxganError(f"{path}: not a file torch.load can read ({type(e).__name__})") from None
    if not isinstance(ckpt, dict):
        raise JaxganError(f"{path}: expected a dict checkpoint, got {type(ckpt).__name__}")
    return ckpt


# --- the seeds' own files: bare state_dicts ----------------------------------------------------
#
# The seeds save each network alone, `torch.save(netG.state_dict(), 'netG.pth')` and the same
# for netD (seed 003 each epoch; pytorch/examples' dcgan as netG_epoch_N.pth). No optimiser
# state, no step: a run converted from them starts at step 0 with fresh Adam moments.

REFERENCE_FILES = {"generator": "netG.pth", "discriminator": "netD.pth"}


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and (hasattr(v, "shape") or isinstance(v, np.ndarray)) for k, v in obj.items())


def read_torch_files(paths: list[str | Path]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(checkpoint, file of each net, what was initialised fresh) from one torch_ref checkpoint,
    or from the seeds' state_dicts: G's file, then D's if given.

    Every file is read with `weights_only=True`; one that is neither is refused naming it.
    """
    if not 1 <= len(paths) <= 2:
        raise JaxganError(f"give one torch_ref checkpoint, or the generator's state_dict and the discriminator's "
                          f"(e.g. netG.pth netD.pth); got {len(paths)} files")
    loaded = [load_torch_checkpoint(p) for p in paths]
    if "generator" in loaded[0] and not _is_state_dict(loaded[0]):
        if len(paths) > 1:
            raise JaxganError(f"{paths[0]}: a torch_ref checkpoint holds both networks; give it alone")
        notes = [] if "optimizer_g" in loaded[0] else ["optimiser state: not in the file; initialised fresh"]
        return loaded[0], {"generator": str(paths[0]), "discriminator": str(paths[0])}, notes
    for path, obj in zip(paths, loaded):
        if not _is_state_dict(obj):
            first = next(iter(obj), None)
            raise JaxganError(f"{path}: neither a torch_ref checkpoint nor a network's state_dict "
                              f"(its first entry '{first}' is a {type(obj.get(first)).__name__}, not a tensor)")
    checkpoint = dict(zip(NETS, loaded))
    sources = {net: str(p) for net, p in zip(NETS, paths)}
    notes = [] if len(paths) == 2 else [
        "discriminator: no file given; initialised fresh, as the recipe initialises it"]
    notes.append("optimiser state: not in the seeds' files; initialised fresh (Adam moments zero, step 0)")
    return checkpoint, sources, notes


def write_reference_files(config: Config, state: GANState, image_shape: tuple[int, int, int], out_dir: str | Path,
                     counters: Optional[Mapping[str, Any]] = None, force: bool = False) -> list[Path]:
    """OUT_DIR/netG.pth and netD.pth, each saved as the seeds save them: the seed's own network
    (torch_ref) given the weights, then `torch.save(net.state_dict(), path)`; loadable with
    `net.load_state_dict(torch.load(path))`."""
    import torch

    from jaxgan.files import atomic_write, refuse_existing
    from torch_ref.models import check_recipe, seed_name, seed_networks

    check_recipe(config)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise JaxganError(f"{out_dir}: is a file; give a folder for netG.pth and netD.pth")
    if not out_dir.parent.is_dir():
        raise JaxganError(f"{out_dir.parent}: no such folder; create it first or choose another --to-seed folder")
    targets = {net: out_dir / name for net, name in REFERENCE_FILES.items()}
    if out_dir.is_dir():
        for target in targets.values():
            refuse_existing(target, force, "seed state_dict")
    checkpoint = to_torch(config, state, image_shape, counters)
    name = seed_name(config)
    with torch.device("meta"):  # the seed's classes, without drawing weights that are replaced next
        nets = dict(zip(NETS, seed_networks(name, image_shape[-1])))
    out_dir.mkdir(exist_ok=True)
    for net, target in targets.items():
        module = nets[net]
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in checkpoint[net].items()}, assign=True)
        # torch names the archive inside the file after the file (netG/data.pkl): save under the
        # target's own name in a scratch folder, then write those bytes atomically
        with tempfile.TemporaryDirectory(prefix="jaxgan-seed-") as scratch:
            staged = Path(scratch) / target.name
            torch.save(module.state_dict(), staged)
            atomic_write(target, staged.read_bytes())
    return list(targets.values())
