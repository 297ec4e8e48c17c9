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


# --- the seeds' own files, and the dicts training scripts save ----------------------------------
#
# The seeds save each network alone, `torch.save(netG.state_dict(), 'netG.pth')` and the same
# for netD (seed 003 each epoch; pytorch/examples' dcgan as netG_epoch_N.pth). No optimiser
# state, no step: a run converted from them starts at step 0 with fresh Adam moments. Many
# scripts save a dict of state_dicts instead (`{'netG': G.state_dict(), 'netD': ..., 'epoch': 3}`,
# Lightning's `{'state_dict': {'generator.0.weight': ...}}`): the networks are found in it by
# the names scripts give them, or named with --torch-key. A network wrapped in nn.DataParallel
# or DistributedDataParallel saves its tensors under `module.`; half-precision weights are
# float16 or bfloat16. Each is undone, and said in one line.

REFERENCE_FILES = {"generator": "netG.pth", "discriminator": "netD.pth"}
ROLE_NAMES = {"generator": ("netG", "generator", "G"), "discriminator": ("netD", "discriminator", "D")}
EITHER_NAMES = ("state_dict", "model")  # one network, or (Lightning) each under its attribute's name
WRAPPER_PREFIX = "module."  # nn.DataParallel and DistributedDataParallel
HALF_DTYPES = ("float16", "bfloat16")


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and (hasattr(v, "shape") or isinstance(v, np.ndarray)) for k, v in obj.items())


def _by_prefix(sd: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A LightningModule's state_dict split by the network names its keys start with (when each
    key starts with a name scripts give a network); else empty."""
    names = ROLE_NAMES["generator"] + ROLE_NAMES["discriminator"]
    if not all("." in k and k.split(".", 1)[0] in names for k in sd):
        return {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in sd.items():
        prefix, rest = key.split(".", 1)
        groups.setdefault(prefix, {})[rest] = value
    return groups


def state_dict_entries(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The state_dicts a checkpoint dict holds, by name: 'netG', or 'state_dict.generator' for
    a network inside Lightning's 'state_dict'."""
    entries: dict[str, Mapping[str, Any]] = {}
    for name, value in obj.items():
        if isinstance(name, str) and _is_state_dict(value):
            entries[name] = value
            if name in EITHER_NAMES:
                entries.update({f"{name}.{prefix}": sd for prefix, sd in _by_prefix(value).items()})
    return entries


def _choose(path, obj: Mapping[str, Any], role: str, key: Optional[str], required: bool) -> Optional[str]:
    """The entry of checkpoint dict `obj` that holds the `role` network: `key` when given, else
    the one named as scripts name it; None if there is none and it is not `required`."""
    entries = state_dict_entries(obj)
    listed = ", ".join(f"'{n}'" for n in list(obj)[:8])
    if key is not None:
        if key not in entries:
            what = "is not a state_dict" if key in obj else "is not one of its entries"
            raise JaxganError(f"{path}: --torch-key {key} {what} (its entries: {listed})")
        return key
    found = [n for n in entries if n.rsplit(".", 1)[-1] in ROLE_NAMES[role]]
    if not found and required:  # a file of one network: under a generic name
        found = [n for n in entries if n in EITHER_NAMES and not _by_prefix(entries[n])]
    if len(found) > 1:
        raise JaxganError(f"{path}: holds several state_dicts that could be the {role}: "
                          f"{', '.join(repr(n) for n in found)}; choose one with --torch-key NAME")
    if not found and required:
        raise JaxganError(f"{path}: neither a torch_ref checkpoint nor a network's state_dict, nor a dict holding "
                          f"the {role}'s under a name scripts use ({', '.join(ROLE_NAMES[role] + EITHER_NAMES)}); "
                          f"its entries: {listed}; name the {role}'s with --torch-key NAME")
    return found[0] if found else None


def _as_float32(value):
    if str(value.dtype).replace("torch.", "") not in HALF_DTYPES:
        return value
    return value.float() if hasattr(value, "float") else np.asarray(value, np.float32)


def normalised(sd: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """`sd` without the `module.` prefix DataParallel adds, its half-precision tensors as
    float32; one line for each change made."""
    sd, notes = dict(sd), []
    if sd and all(k.startswith(WRAPPER_PREFIX) for k in sd):
        sd = {k[len(WRAPPER_PREFIX):]: v for k, v in sd.items()}
        notes.append(f"{where}: '{WRAPPER_PREFIX}' removed from its {len(sd)} tensor names (saved from "
                     "nn.DataParallel or DistributedDataParallel)")
    dtypes = [str(getattr(v, "dtype", "")).replace("torch.", "") for v in sd.values()]
    half = [d for d in dtypes if d in HALF_DTYPES]
    if half:
        sd = {k: _as_float32(v) for k, v in sd.items()}
        notes.append(f"{where}: {len(half)} {' and '.join(sorted(set(half)))} tensors converted to float32")
    return sd, notes


def _networks(paths: list, loaded: list[dict], keys: list[Optional[str]]) -> dict[str, tuple[Mapping, str]]:
    """{net: (state_dict, where it was found)}: from G's file and D's, or both from one dict."""
    found = {}
    files = list(zip(NETS, paths, loaded)) if len(paths) == 2 else [("generator", paths[0], loaded[0])]
    for (net, path, obj), key in zip(files, keys):
        if key is None and _is_state_dict(obj):
            found[net] = (obj, str(path))
            continue
        name = _choose(path, obj, net, key, required=True)
        found[net] = (state_dict_entries(obj)[name], f"{path}['{name}']")
        if len(paths) == 1:  # the discriminator of the same dict, if it holds one
            d_name = _choose(path, obj, "discriminator", keys[1], required=False)
            if d_name is not None:
                found["discriminator"] = (state_dict_entries(obj)[d_name], f"{path}['{d_name}']")
    return found


def read_torch_files(paths: list[str | Path], torch_keys: tuple[str, ...] = ()
                     ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(checkpoint, where each net was found, notes) from one torch_ref checkpoint, the seeds'
    state_dicts (G's file, then D's if given), or dicts of state_dicts (`torch_keys`: the entry
    holding G, then D's, where the names scripts use do not find them).

    Every file is read with `weights_only=True`; one that is none of these is refused naming it.
    """
    if not 1 <= len(paths) <= 2:
        raise JaxganError(f"give one torch_ref checkpoint, or the generator's state_dict and the discriminator's "
                          f"(e.g. netG.pth netD.pth); got {len(paths)} files")
    if len(torch_keys) > 2:
        raise JaxganError(f"--torch-key: give the generator's entry, then the discriminator's; got {len(torch_keys)}")
    loaded = [load_torch_checkpoint(p) for p in paths]
    if "generator" in loaded[0] and not _is_state_dict(loaded[0]) and not torch_keys:
        return _torch_ref_checkpoint(paths, loaded[0])
    found = _networks(paths, loaded, [*torch_keys, None, None][:2])
    checkpoint, sources, notes = {}, {}, []
    for net, (sd, where) in found.items():
        checkpoint[net], changed = normalised(sd, f"{net} ({where})")
        sources[net] = where
        notes += changed
    bare = all(_is_state_dict(obj) for obj in loaded)
    if "discriminator" not in checkpoint:
        notes.append("discriminator: no file given; initialised fresh, as the recipe initialises it" if bare else
                     f"discriminator: not in {paths[0]}; initialised fresh, as the recipe initialises it")
    notes.append("optimiser state: not in the seeds' files; initialised fresh (Adam moments zero, step 0)" if bare
                 else "optimiser state: not read from these files; initialised fresh (Adam moments zero, step 0)")
    return checkpoint, sources, notes


def _torch_ref_checkpoint(paths: list, ckpt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """A torch_ref checkpoint (or a script's dict with its key names): both networks in one file."""
    if len(paths) > 1:
        raise JaxganError(f"{paths[0]}: a torch_ref checkpoint holds both networks; give it alone")
    ckpt, notes = dict(ckpt), []
    for net in NETS:
        if _is_state_dict(ckpt.get(net)):
            ckpt[net], changed = normalised(ckpt[net], f"{net} ({paths[0]})")
            notes += changed
    if "optimizer_g" not in ckpt:
        notes.append("optimiser state: not in the file; initialised fresh")
    return ckpt, {"generator": str(paths[0]), "discriminator": str(paths[0])}, notes


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
