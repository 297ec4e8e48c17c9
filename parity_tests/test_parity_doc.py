"""docs/parity.md records what the checks measure now, on any machine that runs this.

Each fresh measurement is held to its tolerance by the other parity tests, on this machine.
Here every row of the page's table is compared with a fresh measurement (the same cached runs
the other parity tests make) in what does not depend on the machine: the same rows, the same
tolerances and verdicts, the same exact figures (tolerance 0). A figure this machine's float32
kernels compute differently is listed in the run's report (the terminal summary and
.pytest_cache/d/parity/figures.md), with the machine the page was recorded on. The
trajectories of the slow recipes are compared under `-m slow` (CI), when they are followed for
the SPEC's 10 steps.
"""

from __future__ import annotations

import pytest

from parity_tests import checks, record, report
from parity_tests.measure import CHECKS
from parity_tests.recipes import RECIPES, SETTINGS, TRAJECTORY_STEPS

STALE = "docs/parity.md is stale (python -m parity_tests.report --write):\n"


def fresh_rows(recipe: str, check: str):
    if check == "training":
        return checks.training(recipe, TRAJECTORY_STEPS)
    return checks.run(recipe, check)


def _fast(recipe: str) -> bool:
    return SETTINGS[recipe].trajectory_steps == TRAJECTORY_STEPS


def _compare(measurements, complete: bool, differing_figures: list[str]) -> None:
    found = record.compare(record.load(), measurements, complete=complete)
    differing_figures += found.figures
    assert not found.problems, STALE + "\n".join(found.problems)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recorded_rows_are_what_the_checks_measure_now(recipe, differing_figures):
    wanted = [c for c in CHECKS if c != "training" or _fast(recipe)]
    _compare([m for check in wanted for m in fresh_rows(recipe, check)], _fast(recipe), differing_figures)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [r for r in RECIPES if not _fast(r)])
def test_recorded_trajectory_rows_of_the_slow_recipes(recipe, differing_figures):
    _compare([m for check in CHECKS for m in fresh_rows(recipe, check)], True, differing_figures)


def test_the_page_agrees_with_itself():
    """The machine is named; the summary counts the rows; the notes' float32-vs-float64 gap is
    the table's and names its machine; every recipe is there."""
    recorded = record.load()
    problems = record.consistency_problems(recorded, report.GAP_QUANTITY)
    assert not problems, "\n".join(problems)
    assert {k[0] for k in recorded.rows} == set(RECIPES)
