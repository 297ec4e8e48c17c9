"""jax's persistent compilation cache, on by default, so a second run does not compile again.

Compiling the DCGAN train step takes seconds on a CPU and 12-15 s on a GPU; with the cache the
next run of the same recipe on the same machine loads the compiled program instead. The
folder is `$JAX_COMPILATION_CACHE_DIR` when set (jax's own variable; set it empty to switch the
cache off), else `jax-compilation/` in jaxgan's cache folder: data.cache_dir, else
$JAXGAN_CACHE, else ~/.cache/jaxgan (where the decoded image folders are kept too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

# Programs that compile faster than this are not worth a disk write and a read.
MIN_COMPILE_SECONDS = 0.5


def cache_folder(cache_dir: Optional[str] = None) -> Optional[Path]:
    """Where compiled programs are kept, or None when $JAX_COMPILATION_CACHE_DIR is set empty."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        chosen = os.environ["JAX_COMPILATION_CACHE_DIR"].strip()
        return Path(chosen).expanduser() if chosen else None
    root = cache_dir or os.environ.get("JAXGAN_CACHE") or "~/.cache/jaxgan"
    return Path(root).expanduser() / "jax-compilation"


def enable(cache_dir: Optional[str] = None) -> Optional[Path]:
    """Points jax's compilation cache at `cache_folder(cache_dir)`; returns the folder (None: off).

    A folder that cannot be created leaves the cache off: it only saves time, so it never
    stops a run.
    """
    import jax

    folder = cache_folder(cache_dir)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
