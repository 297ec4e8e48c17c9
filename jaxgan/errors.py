"""The exception types a user sees.

Anything that is the user's to fix (a config key, a data file, a checkpoint) raises
`JaxganError` with a single line that names the file, key or value and says what would be
right. The CLIs print that line and exit non-zero (see `jaxgan.cli.run_cli`); they never show
a traceback for it.
"""


class JaxganError(Exception):
    """A one-line, user-facing error: what is wrong, where, and what would be right."""


class TrainingDiverged(JaxganError):
    """A loss or a parameter became NaN or infinite (the CLI exits with 3)."""
