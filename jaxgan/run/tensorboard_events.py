"""tensorboardX's event-file writer, imported without importing PyTorch.

tensorboardX's package `__init__` imports its `writer` module, which tries `import torch` only
to learn whether torch tensors may be logged. jaxgan logs floats and numpy images, and
importing torch costs seconds of start-up (and a GPU context on some machines), so while
tensorboardX is imported here, `import torch` is made to fail as if torch were not installed.
A process that has already imported torch keeps it and imports tensorboardX as usual.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator


@contextlib.contextmanager
def _torch_unavailable() -> Iterator[None]:
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


with _torch_unavailable():
    from tensorboardX import summary as tb_summary
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto.event_pb2 import Event, SessionLog

__all__ = ["Event", "EventsWriter", "SessionLog", "tb_summary"]
