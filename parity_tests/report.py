"""The parity report: every check of every recipe, as a markdown table.

    python -m parity_tests.report [--write] [--recipes NAME ...] [--checks NAME ...]

Runs the same checks as `pytest parity_tests` (the training trajectory for the full 10 steps
for every recipe) and prints one row per measurement: recipe, check, what was compared, the
largest difference observed (where), the tolerance, and whether it holds; above the table, the
machine it ran on (float32 figures depend on it). Then it compares the run with the record in
docs/parity.md: what may not differ between machines (the rows, tolerances, verdicts, exact
zeros) and which figures this machine measured differently. With --write (every recipe and
check) the block replaces what lies between `<!-- parity:start -->` and `<!-- parity:end -->`
in docs/parity.md. Exit code 1 if any measurement is outside its tolerance.
"""

from __future__ import annotations

import sys
import time

from parity_tests import record

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


def machine_line() -> str:
    """The machine this run measures on, in one line (float32 figures depend on it): CPU, cores,
    bfloat16 units, versions, XLA_FLAGS, and torch's thread count."""
    import torch

    from jaxgan.machine import describe_machine, summary_line

    return f"{summary_line(describe_machine(with_devices=False))}; torch threads {torch.get_num_threads()}"


def cpu_name() -> str:
    """'<CPU model>, <n> cores': the machine as the notes name it."""
    from jaxgan.machine import describe_machine

    facts = describe_machine(with_devices=False)
    return f"{facts['cpu_model']}, {facts['usable_cpus']} cores"


def notes(measurements) -> str:
    """NOTES with torch's own float32-vs-float64 gap (the largest over the recipes) and the
    machine it was measured on: on other float32 kernels it is another figure."""
    gaps = [(m.observed, m.recipe) for m in measurements if m.quantity.startswith(GAP_QUANTITY)]
    if not gaps:
        return NOTES.format(gap="")
    value, recipe = max(gaps)
    return NOTES.format(gap=f" (measured on {cpu_name()}: up to {value:.1e}, {recipe})")


def render(measurements, seconds: float) -> str:
    """The whole docs/parity.md block: the machine, the table, the notes, the summary line."""
    failed = [m for m in measurements if not m.ok]
    return "\n".join([
        f"{record.MACHINE}{machine_line()}",
        "",
        table(measurements),
        "",
        notes(measurements),
        "",
        f"{len(measurements)} measurements, {len(failed)} outside tolerance; {seconds:.0f} s "
        "(`python -m parity_tests.report --write`).",
    ])


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.2e}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # |a - b| inside a markdown table cell


def cells(m) -> tuple[str, str, str, str, str, str]:
    """One measurement's row: recipe, check, quantity, observed (where), tolerance, ok."""
    observed = _fmt(m.observed) + (f" ({m.where})" if m.where else "")
    if m.tolerance is None:
        tol, ok = "reported", "-"
    else:
        tol = (">= " if m.at_least else "<= ") + _fmt(m.tolerance)
        ok = "yes" if m.ok else "**NO**"
    return m.recipe, m.check, m.quantity, observed, tol, ok


def table(measurements) -> str:
    rows = ["| recipe | check | quantity | observed (max) | tolerance | ok |", "|---|---|---|---|---|---|"]
    rows += ["| " + " | ".join(_cell(c) for c in cells(m)) + " |" for m in measurements]
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

                what = " ".join(f"could not run: {type(e).__name__}: {e}".replace("|", "/").split())[:200]
                out.append(Measurement(recipe, check, what, float("nan"), 0.0))
    return out, time.perf_counter() - start


def tell_against_record(measurements, complete: bool) -> None:
    """What this run changes in docs/parity.md (stderr): rows, tolerances, verdicts and exact
    figures, which no machine may change; and the figures this machine measures differently."""
    if not record.DOC.is_file():
        print(f"\n{record.DOC}: not there; nothing to compare with", file=sys.stderr)
        return
    recorded = record.load()
    found = record.compare(recorded, measurements, complete=complete)
    print(f"\nagainst {record.DOC} (recorded on {recorded.machine}):", file=sys.stderr)
    print(f"  {len(found.problems)} differences that no machine may make", file=sys.stderr)
    print("".join(f"    {p}\n" for p in found.problems), end="", file=sys.stderr)
    print(f"  {len(found.figures)} figures measured differently here ({machine_line()})", file=sys.stderr)
    print("".join(f"    {f}\n" for f in found.figures), end="", file=sys.stderr)


def main(argv=None) -> int:
    from jaxgan.cli import ArgumentParser
    from parity_tests.measure import CHECKS
    from parity_tests.recipes import RECIPES

    parser = ArgumentParser(prog="python -m parity_tests.report", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the block between the markers of {record.DOC}")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES, metavar="RECIPE")
    parser.add_argument("--checks", nargs="+", default=list(CHECKS), choices=CHECKS, metavar="CHECK")
    args = parser.parse_args(argv)
    complete = set(args.checks) == set(CHECKS)
    if args.write and not (complete and set(args.recipes) == set(RECIPES)):
        parser.error("--write records the whole table: leave out --recipes and --checks")

    measurements, seconds = run(args.recipes, args.checks)
    text = render(measurements, seconds)
    print(text)
    tell_against_record(measurements, complete)
    if args.write:
        if record.write(text):
            print(f"\nwritten into {record.DOC} between {record.START} and {record.END}", file=sys.stderr)
        else:
            print(f"\n{record.DOC}: no {record.START} ... {record.END} markers; nothing written", file=sys.stderr)
    return 1 if any(not m.ok for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
