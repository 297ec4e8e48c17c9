"""docs/parity.md as data, and what a fresh run may and may not change in it.

The page records one machine's run of every check. What does not depend on the machine must
come out the same anywhere: the rows (recipes, checks, quantities, counts), every tolerance and
verdict; and so the figures that are exact (tolerance 0: mismatches, differing pixels, counters,
which hold only at 0).
Every other figure (float32 losses, the reported float32 gradients, float64 trajectories far
inside their tolerance, sampling statistics) comes from the machine's kernels: a different one
here is shown beside the record and the machine it was recorded on, not failed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "parity.md"
START, END = "<!-- parity:start -->", "<!-- parity:end -->"
MACHINE = "Measured on: "

_CELL = re.compile(r"(?<!\\)\|")
_SUMMARY = re.compile(r"^(\d+) measurements, (\d+) outside tolerance", re.MULTILINE)
_GAP = re.compile(r"\(measured on ([^:]+): up to ([0-9.e+-]+), (\w+)\)")

Key = tuple[str, str, str]  # recipe, check, quantity


@dataclasses.dataclass(frozen=True)
class Record:
    machine: str  # the line after MACHINE
    rows: dict[Key, tuple[str, str, str]]  # -> (observed, tolerance, ok) cells
    text: str  # the whole block, notes and summary included


@dataclasses.dataclass(frozen=True)
class Comparison:
    problems: list[str]  # what no machine may change: the freshness test fails on these
    figures: list[str]  # this machine's figures that differ from the record: shown, not failed


def block(page: str) -> str:
    assert START in page and END in page, f"{DOC.name} has no {START} ... {END} block"
    return page.split(START, 1)[1].split(END, 1)[0]


def parse(page: str) -> Record:
    text = block(page)
    machines = [line[len(MACHINE):] for line in text.splitlines() if line.startswith(MACHINE)]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().replace("\\|", "|") for c in _CELL.split(line)[1:-1]]
        if len(cells) == 6 and cells[0] not in ("recipe", "---"):
            rows[tuple(cells[:3])] = tuple(cells[3:])
    return Record(machines[0] if machines else "", rows, text)


def load(path: Path = DOC) -> Record:
    return parse(path.read_text())


def write(text: str, path: Path = DOC) -> bool:
    """Replaces the text between the markers; False (nothing written) if they are missing."""
    if not path.is_file():
        return False
    content = path.read_text()
    if START not in content or END not in content or content.index(START) > content.index(END):
        return False
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    return True


def _figure(cell: str) -> float:
    return float(cell.split(" ")[0])


def compare_row(recorded: tuple[str, str, str], fresh: tuple[str, str, str], where: str) -> tuple[str, str]:
    """(problem, figure) for one row, either empty: the fresh (observed, tolerance, ok) cells
    against the recorded ones."""
    (observed, tolerance, ok), (now, now_tolerance, now_ok) = recorded, fresh
    if (tolerance, ok) != (now_tolerance, now_ok):
        return f"{where}: recorded {tolerance} {ok}, now {now_tolerance} {now_ok}", ""
    if tolerance == "reported" and not math.isfinite(_figure(now)):
        return f"{where}: reported figure is {now}", ""
    if observed != now:
        return "", f"{where}: recorded {observed}, here {now}"
    return "", ""


def compare(recorded: Record, measurements, complete: bool = True) -> Comparison:
    """The fresh `measurements` against the record. `complete`: these are all of their
    recipes' measurements, so a recorded row of those recipes that none of them is, is stale."""
    from parity_tests.report import cells

    problems, figures = [], []
    for m in measurements:
        row = cells(m)
        key, where = row[:3], " | ".join(row[:3])
        if key not in recorded.rows:
            problems.append(f"missing from {DOC.name}: {where}")
            continue
        problem, figure = compare_row(recorded.rows[key], row[3:], where)
        problems += [problem] if problem else []
        figures += [figure] if figure else []
    if complete:
        recipes = {m.recipe for m in measurements}
        kept = {(m.recipe, m.check, m.quantity) for m in measurements}
        problems += [f"in {DOC.name}, no longer measured: {' | '.join(k)}" for k in recorded.rows
                     if k[0] in recipes and k not in kept]
    return Comparison(problems, figures)


def consistency_problems(recorded: Record, gap_quantity: str) -> list[str]:
    """What the page's own text must agree on, whatever machine reads it: the machine is named;
    the summary counts the table's rows and failures; the notes' float32-vs-float64 gap is the
    largest of the table's gap rows and names the recorded machine."""
    problems = [] if recorded.machine else [f"no '{MACHINE}...' line"]
    summary = _SUMMARY.search(recorded.text)
    counts = (len(recorded.rows), sum(ok == "**NO**" for _, _, ok in recorded.rows.values()))
    if not summary or (int(summary.group(1)), int(summary.group(2))) != counts:
        problems.append(f"the summary line does not say '{counts[0]} measurements, {counts[1]} outside tolerance'")
    gaps = [(_figure(v[0]), k[0]) for k, v in recorded.rows.items() if k[2].startswith(gap_quantity)]
    found = _GAP.search(recorded.text.replace("\n", " "))
    if gaps and not found:
        problems.append("the notes do not state torch's own float32-vs-float64 gap and its machine")
    elif gaps:
        value, recipe = max(gaps)
        if (found.group(3), f"{float(found.group(2)):.1e}") != (recipe, f"{value:.1e}"):
            problems.append(f"the notes say {found.group(2)} ({found.group(3)}), the table {value:.1e} ({recipe})")
        if not recorded.machine.startswith(found.group(1)):
            problems.append(f"the notes' gap names '{found.group(1)}', the page's machine is '{recorded.machine}'")
    return problems
