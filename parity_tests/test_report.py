"""The report's table, the docs/parity.md block, and what a fresh run may change in it (the
checks themselves are the other tests)."""

from parity_tests import record, report
from parity_tests.measure import Measurement

ROWS = [Measurement("r", "init", "|mean_jax - mean_torch| / SE", 1.5, 5.0, "w"),
        Measurement("r", "losses", "grad G (float32)", 3e-3, None),
        Measurement("r", "training", "params", 2e-3, 1e-4)]

RECORDED = [Measurement("r", "losses", "Loss_D (float32), |diff|", 4.17e-7, 1e-5),
            Measurement("r", "losses", "grad D (float32), max rel", 2.53e-2, None, "main.3.bias"),
            Measurement("r", "losses", f"{report.GAP_QUANTITY} (batch 4), max rel", 2.88e-3, None),
            Measurement("r", "training", "params after 10 steps (float64), max rel", 2.6e-10, 1e-4),
            Measurement("r", "pipeline", "sample grid, differing pixels", 0, 0)]


def test_table_escapes_pipes_and_marks_failures():
    text = report.table(ROWS)
    lines = text.splitlines()
    assert lines[2] == "| r | init | \\|mean_jax - mean_torch\\| / SE | 1.50e+00 (w) | <= 5 | yes |"
    assert lines[3].endswith("| reported | - |")
    assert lines[4].endswith("| <= 1.00e-04 | **NO** |")
    assert all(line.count(" | ") == 5 for line in lines[2:])


def test_the_page_is_written_only_between_existing_markers(tmp_path):
    page = tmp_path / "parity.md"
    assert not record.write("table", page)  # no page: nothing written
    page.write_text("intro\n")
    assert not record.write("table", page) and page.read_text() == "intro\n"
    page.write_text(f"intro\n{record.START}\nold\n{record.END}\noutro\n")
    assert record.write("new table", page)
    assert page.read_text() == f"intro\n{record.START}\nnew table\n{record.END}\noutro\n"


def _recorded() -> record.Record:
    return record.parse(f"{record.START}\n{report.render(RECORDED, 1.0)}\n{record.END}")


def _changed(i: int, observed=None, tolerance="same") -> list[Measurement]:
    m = RECORDED[i]
    new = Measurement(m.recipe, m.check, m.quantity, m.observed if observed is None else observed,
                      m.tolerance if tolerance == "same" else tolerance, m.where)
    return [new if j == i else r for j, r in enumerate(RECORDED)]


def test_the_rendered_block_reads_back_and_agrees_with_itself():
    recorded = _recorded()
    assert len(recorded.rows) == len(RECORDED) and recorded.machine
    assert record.consistency_problems(recorded, report.GAP_QUANTITY) == []
    assert record.compare(recorded, RECORDED) == record.Comparison([], [])


def test_figures_of_other_float32_kernels_are_shown_not_failed():
    for i, value in ((0, 0.0), (1, 2.2e-6), (2, 2.17e-6), (3, 3e-13)):  # within tolerance, or reported
        found = record.compare(_recorded(), _changed(i, value))
        assert found.problems == [] and len(found.figures) == 1, (i, found)
        assert found.figures[0].startswith(" | ".join(report.cells(RECORDED[i])[:3]) + ": recorded ")


def test_what_no_machine_may_change_fails():
    cases = {"verdict": _changed(0, 2e-5), "tolerance": _changed(0, tolerance=1e-4),
             "exact figure": _changed(4, 3), "reported nan": _changed(1, float("nan")),
             "float64 outside tolerance": _changed(3, 2e-4)}
    for what, measurements in cases.items():
        found = record.compare(_recorded(), measurements)
        assert len(found.problems) == 1, (what, found)
    lacking = Measurement("r", "shapes", "a row the page lacks", 0, 0.0)
    found = record.compare(_recorded(), RECORDED + [lacking])
    assert found.problems == ["missing from parity.md: r | shapes | a row the page lacks"]
    found = record.compare(_recorded(), RECORDED[1:])
    assert found.problems == [f"in parity.md, no longer measured: {' | '.join(report.cells(RECORDED[0])[:3])}"]
    assert record.compare(_recorded(), RECORDED[1:], complete=False).problems == []


def test_a_page_that_contradicts_itself_is_told():
    text = _recorded().text
    gap_sentence = text[text.index("(measured on "):text.index(", r)") + 4]
    for old, new in ((gap_sentence, "(measured on Another CPU, 64 cores: up to 2.9e-03, r)"),
                     (gap_sentence, gap_sentence.replace("2.9e-03", "2.2e-06")),
                     ("5 measurements", "6 measurements"), (record.MACHINE, "Machine: ")):
        recorded = record.parse(f"{record.START}\n{text.replace(old, new)}\n{record.END}")
        assert record.consistency_problems(recorded, report.GAP_QUANTITY), (old, new)
