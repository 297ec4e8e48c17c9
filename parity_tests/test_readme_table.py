"""The README's parity table is what the checks measure now, so it cannot go stale.

Each row of the table between the README's markers is compared with a fresh measurement (the
same cached runs the other parity tests make): the same rows, the same tolerances and
verdicts, and observed values of the same size (within a factor of 10, or both far inside
the tolerance: the last bits of a float sum may differ between machines and thread counts; a
stale row is orders of magnitude off). The notes must state torch's own float32-vs-float64
gradient gap as measured. The trajectories of the slow recipes are compared under `-m slow`
(CI), when they are followed for the SPEC's 10 steps.
"""

from __future__ import annotations

import math
import re

import pytest

from parity_tests import checks, report
from parity_tests.measure import CHECKS
from parity_tests.recipes import RECIPES, SETTINGS, TRAJECTORY_STEPS

CELL = re.compile(r"(?<!\\)\|")


def readme_block() -> str:
    text = report.README.read_text()
    assert report.START in text and report.END in text, "README.md has no parity table markers"
    return text.split(report.START, 1)[1].split(report.END, 1)[0]


def readme_rows() -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """(recipe, check, quantity) -> (observed, tolerance, ok) cells of the README table."""
    rows = {}
    for line in readme_block().splitlines():
        cells = [c.strip().replace("\\|", "|") for c in CELL.split(line)[1:-1]]
        if len(cells) == 6 and cells[0] in RECIPES:
            rows[tuple(cells[:3])] = tuple(cells[3:])
    return rows


def _number(cell: str) -> float:
    return float(cell.split(" ")[0])


def _same_size(readme: float, fresh: float, tolerance) -> bool:
    if readme == fresh:
        return True
    if tolerance is not None and tolerance > 0 and max(abs(readme), abs(fresh)) <= 0.01 * tolerance:
        return True
    if tolerance is None and max(abs(readme), abs(fresh)) <= 1e-12:
        return True
    return readme > 0 and fresh > 0 and abs(math.log10(readme / fresh)) <= 1


def fresh_rows(recipe: str, check: str):
    if check == "training":
        return checks.training(recipe, TRAJECTORY_STEPS)
    return checks.run(recipe, check)


def compare(measurements, complete: bool = True) -> list[str]:
    """What differs between the README and `measurements`; `complete`: these are all of their
    recipes' measurements, so a README row of those recipes that none of them is, is stale."""
    rows = readme_rows()
    problems = []
    for m in measurements:
        key = (m.recipe, m.check, m.quantity)
        if key not in rows:
            problems.append(f"missing from README: {' | '.join(key)}")
            continue
        observed, tolerance, ok = rows[key]
        fresh_cells = report.table([m]).splitlines()[2]
        fresh_tol, fresh_ok = [c.strip() for c in CELL.split(fresh_cells)[1:-1]][4:]
        if (tolerance, ok) != (fresh_tol, fresh_ok):
            problems.append(f"{' | '.join(key)}: README says {tolerance} {ok}, now {fresh_tol} {fresh_ok}")
        elif not _same_size(_number(observed), float(m.observed), m.tolerance):
            problems.append(f"{' | '.join(key)}: README says {observed}, measured now {m.observed:.2e}")
    if complete:
        recipes = {m.recipe for m in measurements}
        kept = {(m.recipe, m.check, m.quantity) for m in measurements}
        problems += [f"in README, no longer measured: {' | '.join(k)}" for k in rows
                     if k[0] in recipes and k not in kept]
    return problems


def _fast(recipe: str) -> bool:
    return SETTINGS[recipe].trajectory_steps == TRAJECTORY_STEPS


@pytest.mark.parametrize("recipe", RECIPES)
def test_readme_rows_are_what_the_checks_measure_now(recipe):
    wanted = [c for c in CHECKS if c != "training" or _fast(recipe)]
    measurements = [m for check in wanted for m in fresh_rows(recipe, check)]
    problems = compare(measurements, complete=_fast(recipe))
    assert not problems, "README parity table is stale (python -m parity_tests.report --write-readme):\n" + \
        "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [r for r in RECIPES if not _fast(r)])
def test_readme_trajectory_rows_of_the_slow_recipes(recipe):
    problems = compare([m for check in CHECKS for m in fresh_rows(recipe, check)])
    assert not problems, "README parity table is stale (python -m parity_tests.report --write-readme):\n" + \
        "\n".join(problems)


def test_readme_notes_state_torchs_own_float32_gap_as_measured():
    gaps = [m for r in RECIPES for m in checks.run(r, "losses") if m.quantity.startswith(report.GAP_QUANTITY)]
    assert len(gaps) == len(RECIPES)
    worst = max(gaps, key=lambda m: m.observed)
    block = readme_block()
    found = re.search(r"\(measured here: up to ([0-9.e+-]+), (\w+)\)", block.replace("\n", " "))
    assert found, "README parity notes do not state torch's own float32-vs-float64 gap"
    assert found.group(2) == worst.recipe and _same_size(float(found.group(1)), worst.observed, None), \
        f"README says {found.group(1)} ({found.group(2)}), measured {worst.observed:.1e} ({worst.recipe})"


def test_a_stale_row_is_told_apart_from_rounding_noise():
    from parity_tests.measure import Measurement

    rows = readme_rows()
    key = next(k for k in rows if k[2].startswith("grad D (float32"))
    readme_value = _number(rows[key][0])
    stale = Measurement(*key, readme_value * 1e-3, None)
    noisy = Measurement(*key, readme_value * 1.3, None)
    def about_the_row(problems):  # one row alone: the rest of its recipe is "no longer measured"
        return [p for p in problems if "no longer measured" not in p]

    assert about_the_row(compare([stale])) == [
        f"{' | '.join(key)}: README says {rows[key][0]}, measured now {readme_value * 1e-3:.2e}"]
    assert about_the_row(compare([noisy])) == []
    lacking = Measurement("gan_fashion_mnist", "shapes", "a row the README lacks", 0, 0.0)
    assert about_the_row(compare([lacking])) == ["missing from README: gan_fashion_mnist | shapes | a row the README lacks"]
