"""The parity report: every check of every recipe, as a markdown table.

    python -m parity_tests.report [--write-readme] [--recipes NAME ...] [--checks NAME ...]

Runs the same checks as `pytest parity_tests` (the training trajectory for the full 10 steps
for every recipe) and prints one row per measurement: recipe, check, what was compared, the
largest difference observed (where), the tolerance, and whether it holds. With
--write-readme the table replaces what lies between `<!-- parity:start -->` and
`<!-- parity:end -->` in README.md, if both markers are there (nothing is written otherwise).
Exit code 1 if any measurement is outside its tolerance.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

START, END = "<!-- parity:start -->", "<!-- parity:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"

GAP_QUANTITY = "torch's own grads, float32 vs float64"

NOTES = """\
Differences are absolute (losses, D outputs, sampled images, pixels), relative to the tensor's
largest value (`max|a-b| / max|b|`: gradients, parameters, Adam moments, BatchNorm statistics)
or in standard errors (init). Losses and sampled images are compared in float32, at the
converted initial weights. Gradients and training trajectories are held in float64 (the
gradients are those of the trajectory's first step): in float32 two correct implementations
part ways because an activation within rounding distance of a ReLU/LeakyReLU kink takes the
other branch in one of them, and Adam's first update (about lr * sign(g)) turns gradients that
are zero up to rounding into full steps. The float32 gradient rows show the size of that
effect (reported, not held), beside torch's own float32-vs-float64 gradient gap for the same
step, weights, batch and noise{gap}. In float64 both sides compute the same function to
~1e-13, so anything left would be a difference in what is computed."""


def notes(measurements) -> str:
    """NOTES with the measured float32-vs-float64 gap of torch itself (largest over the recipes)."""
    gaps = [(m.observed, m.recipe) for m in measurements if m.quantity.startswith(GAP_QUANTITY)]
    if not gaps:
        return NOTES.format(gap="")
    value, recipe = max(gaps)
    return NOTES.format(gap=f" (measured here: up to {value:.1e}, {recipe})")


def render(measurements, seconds: float) -> str:
    """The whole README block: the table, the notes, the summary line."""
    import jax
    import torch

    failed = [m for m in measurements if not m.ok]
    return "\n".join([
        table(measurements),
        "",
        notes(measurements),
        "",
        f"{len(measurements)} measurements, {len(failed)} outside tolerance; jax {jax.__version__}, "
        f"torch {torch.__version__}, {platform.machine()} CPU, {seconds:.0f} s "
        "(`python -m parity_tests.report`).",
    ])


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.2e}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # |a - b| inside a markdown table cell


def table(measurements) -> str:
    rows = ["| recipe | check | quantity | observed (max) | tolerance | ok |", "|---|---|---|---|---|---|"]
    for m in measurements:
        observed = _fmt(m.observed) + (f" ({m.where})" if m.where else "")
        if m.tolerance is None:
            tol, ok = "reported", "-"
        else:
            tol = (">= " if m.at_least else "<= ") + _fmt(m.tolerance)
            ok = "yes" if m.ok else "**NO**"
        cells = [m.recipe, m.check, m.quantity, observed, tol, ok]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def run(recipes, checks_wanted) -> tuple[list, float]:
    from parity_tests import checks
    from parity_tests.recipes import TRAJECTORY_STEPS

    out, start = [], time.perf_counter()
    for recipe in recipes:
        for check in checks_wanted:
            print(f"  {recipe}: {check} ...", file=sys.stderr, flush=True)
            try:
                if check == "training":
                    out += checks.training(recipe, TRAJECTORY_STEPS)
                else:
                    out += checks.run(recipe, check)
            except Exception as e:  # a recipe jaxgan cannot build yet is a failed row, not a crash
                from parity_tests.measure import Measurement

                out.append(Measurement(recipe, check, f"could not run: {type(e).__name__}: {e}".replace("|", "/")[:200],
                                       float("nan"), 0.0))
    return out, time.perf_counter() - start


def write_readme(text: str, readme: Path = README) -> bool:
    """Replaces the text between the markers; False (nothing written) if they are missing."""
    if not readme.is_file():
        return False
    content = readme.read_text()
    if START not in content or END not in content or content.index(START) > content.index(END):
        return False
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    return True


def main(argv=None) -> int:
    from parity_tests.measure import CHECKS
    from parity_tests.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="python -m parity_tests.report", description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", action="store_true", help="write the table between the README markers")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES, metavar="RECIPE")
    parser.add_argument("--checks", nargs="+", default=list(CHECKS), choices=CHECKS, metavar="CHECK")
    args = parser.parse_args(argv)

    measurements, seconds = run(args.recipes, args.checks)
    failed = [m for m in measurements if not m.ok]
    text = render(measurements, seconds)
    print(text)
    if args.write_readme:
        if write_readme(text):
            print(f"\nwritten into {README} between {START} and {END}", file=sys.stderr)
        else:
            print(f"\n{README}: no {START} ... {END} markers; nothing written", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
