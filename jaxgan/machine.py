"""What machine a figure came from: CPU model, cores, bfloat16 hardware, GPUs, versions.

A speed figure holds on the machine that measured it: the DCGAN step runs level with PyTorch
in float32 on one CPU and at half torch's speed in bfloat16 on another, whose AMX units torch
uses and XLA:CPU does not. `jaxgan.bench` prints and records this description beside every
figure, so a reader can tell which machine a number belongs to.

`cpu_facts` is a pure function of /proc/cpuinfo's text (tested on sample texts);
`describe_machine` reads the running machine; `cpu_bfloat16_note` is the line `jaxgan.train`
prints when bfloat16 is asked for on a CPU, where it brings no speed.
"""

from __future__ import annotations

import os
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
VERSIONED = ("jax", "jaxlib", "torch")  # looked up by package metadata, so torch is not imported


def _fields(block: str) -> dict[str, str]:
    """`key : value` lines of one processor's block."""
    fields = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def bf16_hardware(flags: set[str]) -> list[str]:
    """The bfloat16 arithmetic units these CPU flags name: AMX tiles, AVX512-BF16 instructions."""
    units = []
    if "amx_bf16" in flags or "amx_tile" in flags:
        units.append("AMX")
    if "avx512_bf16" in flags:
        units.append("AVX512-BF16")
    return units


def cpu_facts(cpuinfo: str) -> dict:
    """The CPU model, logical processor count and bfloat16 units that /proc/cpuinfo's text names.

    Counts `processor` entries; the model is x86's `model name` (or ARM's `CPU part` / `Hardware`
    where that is all there is); flags are x86's `flags` (ARM's `Features`)."""
    blocks = [b for b in cpuinfo.split("\n\n") if b.strip()]
    first = _fields(blocks[0]) if blocks else {}
    model = first.get("model name") or first.get("Hardware") or first.get("CPU part") or ""
    flags = set((first.get("flags") or first.get("Features") or "").split())
    processors = sum(1 for b in blocks if "processor" in _fields(b))
    return {"cpu_model": model, "logical_cpus": processors or None, "bf16_hardware": bf16_hardware(flags)}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def accelerator_names() -> list[str]:
    """Names of jax's non-CPU devices (GPUs, TPUs); empty on a CPU-only machine."""
    import jax

    return [getattr(d, "device_kind", str(d)) for d in jax.devices() if d.platform != "cpu"]


def describe_machine(cpuinfo_path: Path = CPUINFO, with_devices: bool = True) -> dict:
    """This machine's description: CPU facts, usable cores, accelerators, versions, XLA_FLAGS."""
    text = cpuinfo_path.read_text() if cpuinfo_path.is_file() else ""
    facts = cpu_facts(text)
    facts["cpu_model"] = facts["cpu_model"] or platform.processor() or platform.machine()
    facts["usable_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts["accelerators"] = accelerator_names() if with_devices else []
    facts["versions"] = {name: _version(name) for name in VERSIONED}
    facts["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    return facts


def summary_line(machine: dict) -> str:
    """One line for a report: `AMD EPYC, 2 cores, bfloat16 hardware: AVX512-BF16 (no AMX); ...`."""
    units = machine["bf16_hardware"]
    bf16 = ", ".join(units) if units else "none"
    if units and "AMX" not in units:
        bf16 += " (no AMX)"
    parts = [f"{machine['cpu_model']}, {machine['usable_cpus']} cores, bfloat16 hardware: {bf16}"]
    if machine["accelerators"]:
        counts = Counter(machine["accelerators"])
        parts.append("devices: " + ", ".join(f"{n} x {name}" for name, n in counts.items()))
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    parts.append(versions or "no jax or torch installed")
    parts.append(f"XLA_FLAGS={machine['xla_flags']}" if machine["xla_flags"] else "XLA_FLAGS unset")
    return "; ".join(parts)


def cpu_bfloat16_note(precision: str, backend: str) -> str | None:
    """The line `jaxgan.train` prints when bfloat16 is asked for on the CPU backend, else None.

    XLA:CPU ran the DCGAN step no faster in bfloat16 than in float32 on every CPU measured (an AMD
    EPYC with AVX512-BF16, an Intel Sapphire Rapids with AMX; XLA flags did not change that), so a
    user who chose it for speed learns at the start that float32's speed is what to expect."""
    if precision != "bfloat16" or backend != "cpu":
        return None
    return ("note: model.precision bfloat16 brings no speed on the CPU backend: expect the float32 step time "
            "(DCGAN at batch 128: 1.37 s a step in float32 on a 2-core AMD EPYC; on a 2-core Intel Sapphire "
            "Rapids 1.55 s in bfloat16 against 1.53 s in float32; docs/benchmarks.md)")
