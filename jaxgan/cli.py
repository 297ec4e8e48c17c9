"""What every command-line front end shares: one wrapper from errors to exit codes.

    def main(argv=None) -> int:
        args = parse_args(argv)
        return run_cli(lambda: library_function(args))

A `JaxganError` (the user's to fix) becomes one `error: ...` line on stderr and exit code 2;
`TrainingDiverged` exit code 3. Anything else is a bug and keeps its traceback (exit code 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from jaxgan.errors import JaxganError, TrainingDiverged

EXIT_REFUSED = 2
EXIT_DIVERGED = 3


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `error:` line and exit 2, like every refusal."""

    def error(self, message: str):
        self.exit(EXIT_REFUSED, f"error: {message} (see {self.prog} --help)\n")


def run_cli(body: Callable[[], Optional[int]]) -> int:
    """Runs `body`; returns its exit code (0 when it returns None) or the error's. The process
    hooks every command shares (`jaxgan.run.process_hooks`) are installed first."""
    from jaxgan.run.process_hooks import install

    install()
    try:
        code = body()
    except JaxganError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_DIVERGED if isinstance(e, TrainingDiverged) else EXIT_REFUSED
    return 0 if code is None else code
