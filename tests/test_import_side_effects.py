"""Importing jaxgan changes nothing in the importing process: no logging filter, no
`sys.unraisablehook`, no matplotlib backend, no jax monitoring listener. A notebook or a
trainer of one's own that imports any jaxgan module keeps its own set-up; the command-line
front ends install what they need (`jaxgan.run.process_hooks.install`)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import jaxgan
from tests.conftest import REPO

PROBE = r"""
import importlib, json, logging, sys
import jax, matplotlib
from jax._src import monitoring
import flax.linen, optax, orbax.checkpoint  # their own import-time set-up is theirs, not jaxgan's

def snapshot():
    return {
        "absl_filters": [repr(f) for f in logging.getLogger("absl").filters],
        "root_filters": [repr(f) for f in logging.getLogger().filters],
        "root_handlers": len(logging.getLogger().handlers),
        "unraisablehook": repr(sys.unraisablehook),
        "excepthook": repr(sys.excepthook),
        "backend": repr(dict.__getitem__(matplotlib.rcParams, "backend")),
        "pyplot_loaded": "matplotlib.pyplot" in sys.modules,
        "listeners": {name: len(getattr(monitoring, name)) for name in dir(monitoring)
                      if name.endswith("_listeners") and isinstance(getattr(monitoring, name), list)},
    }

before = snapshot()
for name in sys.argv[1:]:
    importlib.import_module(name)
after = snapshot()
print(json.dumps({"before": before, "after": after}))
"""


def library_modules() -> list[str]:
    """Every module of the package, command-line front ends included (importing one must not
    run it)."""
    names = [info.name for info in pkgutil.walk_packages(jaxgan.__path__, "jaxgan.")]
    return sorted(n for n in names if not n.endswith("__main__"))


def _probe(modules: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_module_changes_nothing_in_the_process():
    modules = library_modules()
    assert {"jaxgan.run.checkpoint", "jaxgan.run.clock", "jaxgan.run.folder", "jaxgan.train"} <= set(modules)
    seen = _probe(modules)
    assert seen["after"] == seen["before"]


def test_the_probe_sees_an_installed_hook():
    """The check above can fail: `process_hooks.install()` changes what it compares."""
    probe = PROBE.replace("after = snapshot()",
                          "from jaxgan.run import process_hooks; process_hooks.install()\nafter = snapshot()")
    out = subprocess.run([sys.executable, "-c", probe, "jaxgan"], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    changed = {k for k in seen["before"] if seen["before"][k] != seen["after"][k]}
    assert {"absl_filters", "unraisablehook", "listeners"} <= changed
