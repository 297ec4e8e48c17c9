"""The machine description a speed figure is recorded with: CPU model, cores, bfloat16 units."""

from __future__ import annotations

import json

from jaxgan.machine import cpu_bfloat16_note, cpu_facts, describe_machine, summary_line

FLAGS_COMMON = "fpu vme de pse tsc msr pae mce cx8 apic sep avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl"

# An AMD EPYC (Zen 4) virtual machine: AVX512-BF16 instructions, no AMX tiles.
AMD_EPYC = "".join(
    f"processor\t: {i}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
    f"model name\t: AMD EPYC 9B14\nflags\t\t: {FLAGS_COMMON} avx512_vnni avx512_bf16 vaes\n"
    "bugs\t\t: sysret_ss_attrs null_seg\npower management:\n\n"
    for i in range(2))

# An Intel Xeon Sapphire Rapids: AMX tiles for bfloat16 beside AVX512-BF16.
INTEL_SPR = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
    f"model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
    f"flags\t\t: {FLAGS_COMMON} avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n\n"
    for i in range(4))

# An older Xeon (Skylake): AVX-512 but no bfloat16 arithmetic.
INTEL_SKYLAKE = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n"
                 f"flags\t\t: {FLAGS_COMMON}\n")


def test_amd_epyc_has_avx512_bf16_and_no_amx():
    facts = cpu_facts(AMD_EPYC)
    assert facts == {"cpu_model": "AMD EPYC 9B14", "logical_cpus": 2, "bf16_hardware": ["AVX512-BF16"]}


def test_sapphire_rapids_has_amx_and_avx512_bf16():
    facts = cpu_facts(INTEL_SPR)
    assert facts["cpu_model"] == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert facts["logical_cpus"] == 4
    assert facts["bf16_hardware"] == ["AMX", "AVX512-BF16"]


def test_avx512_alone_is_no_bfloat16_hardware():
    assert cpu_facts(INTEL_SKYLAKE)["bf16_hardware"] == []


def test_an_unreadable_cpuinfo_names_nothing():
    assert cpu_facts("") == {"cpu_model": "", "logical_cpus": None, "bf16_hardware": []}


def _machine(**changes) -> dict:
    machine = {"cpu_model": "AMD EPYC 9B14", "usable_cpus": 2, "bf16_hardware": ["AVX512-BF16"],
               "accelerators": [], "versions": {"jax": "0.10.2", "jaxlib": "0.10.2", "torch": None},
               "xla_flags": ""}
    return {**machine, **changes}


def test_summary_line_says_which_bf16_units_and_which_are_missing():
    line = summary_line(_machine())
    assert line == ("AMD EPYC 9B14, 2 cores, bfloat16 hardware: AVX512-BF16 (no AMX); "
                    "jax 0.10.2, jaxlib 0.10.2; XLA_FLAGS unset")
    amx = summary_line(_machine(bf16_hardware=["AMX", "AVX512-BF16"], xla_flags="--xla_cpu_use_onednn=true"))
    assert "bfloat16 hardware: AMX, AVX512-BF16;" in amx and amx.endswith("XLA_FLAGS=--xla_cpu_use_onednn=true")
    assert "bfloat16 hardware: none;" in summary_line(_machine(bf16_hardware=[]))


def test_summary_line_counts_the_gpus():
    line = summary_line(_machine(accelerators=["NVIDIA H100 80GB HBM3"] * 8))
    assert "devices: 8 x NVIDIA H100 80GB HBM3" in line


def test_describe_machine_reads_a_cpuinfo_file(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(INTEL_SPR)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_xnnpack=false")
    machine = describe_machine(path, with_devices=False)
    assert machine["cpu_model"].startswith("Intel(R) Xeon(R) Platinum 8481C")
    assert machine["bf16_hardware"] == ["AMX", "AVX512-BF16"]
    assert machine["xla_flags"] == "--xla_cpu_use_xnnpack=false"
    assert machine["usable_cpus"] >= 1 and machine["versions"]["jax"]


def test_describe_machine_without_cpuinfo_still_names_the_cpu(tmp_path):
    machine = describe_machine(tmp_path / "missing", with_devices=False)
    assert machine["cpu_model"] and machine["logical_cpus"] is None


def test_bench_record_names_the_accelerators_the_backends_ran_on():
    from jaxgan.bench import machine_record

    gpu = machine_record([{"backend": "jax", "accelerators": ["NVIDIA H100 80GB HBM3"]},
                          {"backend": "torch", "device": "NVIDIA H100 80GB HBM3"}])
    assert gpu["accelerators"] == ["NVIDIA H100 80GB HBM3"] and gpu["platform"]
    torch_only = machine_record([{"backend": "torch-tuned", "device": "NVIDIA H100 80GB HBM3"}])
    assert torch_only["accelerators"] == ["NVIDIA H100 80GB HBM3"]
    cpu = machine_record([{"backend": "jax", "accelerators": []}, {"backend": "torch", "device": "cpu"}])
    assert cpu["accelerators"] == [] and "bf16_hardware" in cpu and "cpu_model" in cpu


def test_bench_prints_and_records_the_machine(tmp_path, capsys):
    from jaxgan import bench
    from jaxgan.config import CONFIG_DIR

    out = tmp_path / "bench.json"
    argv = ["--config", str(CONFIG_DIR / "gan_fashion_mnist.yaml"), "--backends", "jax", "--data", "fake",
            "--steps", "2", "--warmup", "1", "--set", "train.steps_per_dispatch=1", "--json", str(out)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    recorded = json.loads(out.read_text())["machine"]
    assert f"machine: {summary_line(recorded)}" in printed.splitlines()
    assert recorded["cpu_model"] and recorded["versions"]["jax"] and isinstance(recorded["bf16_hardware"], list)


def test_bfloat16_on_the_cpu_backend_gets_one_note_with_the_float32_figure():
    note = cpu_bfloat16_note("bfloat16", "cpu")
    assert note.startswith("note: model.precision bfloat16 brings no speed on the CPU backend")
    assert "1.37 s a step in float32" in note and "\n" not in note
    assert cpu_bfloat16_note("float32", "cpu") is None
    assert cpu_bfloat16_note("bfloat16", "gpu") is None


def _train_stderr(monkeypatch, capsys, tmp_path, precision: str) -> str:
    """`python -m jaxgan.train` on the DCGAN recipe up to the training itself, which is stubbed."""
    from jaxgan import train
    from jaxgan.config import CONFIG_DIR
    from jaxgan.run import loop

    summary = {"step": 0, "total_steps": 0, "wall_s": 0.0, "steps_per_s": None, "samples": "-"}
    monkeypatch.setattr(loop, "train_and_evaluate", lambda *args, **kwargs: summary)
    monkeypatch.setattr(train.compile_cache, "enable", lambda *args: None)  # jax's config stays as it is
    argv = ["--config", str(CONFIG_DIR / "dcgan_celeba.yaml"), "--workdir", str(tmp_path / "run"),
            "--set", f"model.precision={precision}"]
    assert train.main(argv) == 0
    return capsys.readouterr().err


def test_training_in_bfloat16_on_the_cpu_says_so_at_the_start(monkeypatch, capsys, tmp_path):
    lines = _train_stderr(monkeypatch, capsys, tmp_path, "bfloat16").splitlines()
    assert [line for line in lines if line.startswith("note:")] == [cpu_bfloat16_note("bfloat16", "cpu")]
    assert "note:" not in _train_stderr(monkeypatch, capsys, tmp_path, "float32")
