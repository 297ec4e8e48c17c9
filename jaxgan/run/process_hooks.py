"""What a jaxgan command installs in its process, once, and never on `import`.

A library module that changed logging, `sys.unraisablehook` or jax's monitoring on import
would change them for every notebook and trainer that imports jaxgan. The command-line
front ends call `install()` (through `jaxgan.cli.run_cli`); a program of one's own may call
it too, to get the same one-line reports of a failed checkpoint write.
"""

from __future__ import annotations

import logging
import os
import sys

_installed = False


class OrbaxWriteFailureFilter(logging.Filter):
    """Drops the traceback orbax logs from its writer thread when a write fails: the same
    failure reaches `Checkpointer.wait`, which reports it as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and f"{os.sep}orbax{os.sep}" in record.pathname)


def quiet_closed_event_loop(hook):
    """After a failed write orbax closes its event loop while tensorstore still completes the
    cancelled writes; each completion reports 'Event loop is closed' from a thread no code
    can catch in. Those reports are dropped; anything else goes to `hook`."""

    def unraisable(info) -> None:
        if isinstance(info.exc_value, RuntimeError) and str(info.exc_value) == "Event loop is closed":
            return
        hook(info)

    return unraisable


def install() -> None:
    """Installs the filters above and the run clock's compile-time listener (idempotent)."""
    global _installed
    if _installed:
        return
    # absl's logger, not a plain one made by getLogger("absl") before absl is imported: only
    # absl's logger class names orbax's file, rather than absl's, as a record's caller.
    from absl import logging as absl_logging

    from jaxgan.run.clock import install_compile_listener

    absl_logging.get_absl_logger().addFilter(OrbaxWriteFailureFilter())
    sys.unraisablehook = quiet_closed_event_loop(sys.unraisablehook)
    install_compile_listener()
    _installed = True
