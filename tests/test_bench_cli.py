"""`python -m jaxgan.bench`: a table from every backend, nothing left in the temporary
folder, and a failed backend or a bad argument is one `error:` line with exit code 2."""

from __future__ import annotations

import json

from jaxgan import bench
from jaxgan.config import CONFIG_DIR

FASHION = str(CONFIG_DIR / "gan_fashion_mnist.yaml")
QUICK = ["--data", "fake", "--steps", "4", "--warmup", "2", "--set", "train.steps_per_dispatch=2",
         "--torch-threads", "1"]


def test_jax_and_torch_tuned_fill_the_table_and_leave_no_temporary_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "bench.json"
    assert bench.main(["--config", FASHION, "--backends", "jax,torch-tuned", *QUICK, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| jax |" in table and "| torch-tuned |" in table
    results = json.loads(out.read_text())["results"]
    assert [r["backend"] for r in results] == ["jax", "torch-tuned"]
    assert all(r["steps"] == 4 and r["ms_per_step"] > 0 for r in results)
    assert "compile none" in results[1]["version"] and "1 threads" in results[1]["version"]
    assert not list((tmp_path / "tmp").glob("jaxgan-bench-*"))  # the stand-in images were removed


def test_a_failed_backend_is_one_error_line_and_exit_code_2(capsys, tmp_path):
    book = str(CONFIG_DIR / "myfgan_mnist.yaml")
    out = tmp_path / "book.json"
    assert bench.main(["--config", book, "--backends", "torch-tuned", *QUICK, "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: backend torch-tuned failed: ")
    assert "use the 'torch' backend" in err[0]
    # the worker's whole output is kept, and the error line and the JSON name where
    log = tmp_path / "book.torch-tuned.log"
    assert f"(its output: {log})" in err[0] and "use the 'torch' backend" in log.read_text()
    assert json.loads(out.read_text())["results"][0]["log"] == str(log)


def test_bad_arguments_are_one_error_line(capsys):
    cases = [(["--backends", "jax,pytorch"], "unknown ['pytorch']"),
             (["--steps", "0"], "--steps must be positive"),
             (["--torch-threads", "0"], "--torch-threads must be positive")]
    for argv, message in cases:
        assert bench.main(["--config", FASHION, *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_help_describes_every_option(capsys):
    try:
        bench.main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--batch-size", "--set", "--backends", "--compile-mode", "--torch-threads"):
        block = text.split(option, 2)[-1][:200]  # the option's entry in the options list
        assert len(block.split("\n")[0].strip()) + len(block.split("\n")[1].strip()) > 10, option
