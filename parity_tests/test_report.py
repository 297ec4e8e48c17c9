"""The report's table and its README markers (the checks themselves are the other tests)."""

from parity_tests import report
from parity_tests.measure import Measurement

ROWS = [Measurement("r", "init", "|mean_jax - mean_torch| / SE", 1.5, 5.0, "w"),
        Measurement("r", "losses", "grad G (float32)", 3e-3, None),
        Measurement("r", "training", "params", 2e-3, 1e-4)]


def test_table_escapes_pipes_and_marks_failures():
    text = report.table(ROWS)
    lines = text.splitlines()
    assert lines[2] == "| r | init | \\|mean_jax - mean_torch\\| / SE | 1.50e+00 (w) | <= 5 | yes |"
    assert lines[3].endswith("| reported | - |")
    assert lines[4].endswith("| <= 1.00e-04 | **NO** |")
    assert all(line.count(" | ") == 5 for line in lines[2:])


def test_readme_is_written_only_between_existing_markers(tmp_path):
    readme = tmp_path / "README.md"
    assert not report.write_readme("table", readme)  # no README: nothing written
    readme.write_text("intro\n")
    assert not report.write_readme("table", readme) and readme.read_text() == "intro\n"
    readme.write_text(f"intro\n{report.START}\nold\n{report.END}\noutro\n")
    assert report.write_readme("new table", readme)
    assert readme.read_text() == f"intro\n{report.START}\nnew table\n{report.END}\noutro\n"
