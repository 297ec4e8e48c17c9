"""Fuzzing the readers of untrusted input: every input gives a valid result or a one-line
JaxganError, never another exception and never a hang.

Covers the recipe loader (`load_config` on arbitrary bytes, `validate` on arbitrary YAML-like
trees), `parse_idx` on arbitrary bytes and the MNIST CSV reader on arbitrary text. Each test
mixes unstructured input with near-valid input (a real recipe, header or row, perturbed), which
is where the reader's deeper checks are.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import struct
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jaxgan.config import Config, load_config, validate
from jaxgan.data.csv_digits import COLUMNS, read_csv_digits
from jaxgan.data.idx import parse_idx
from jaxgan.errors import JaxganError

from tests.conftest import FASHION_CONFIG

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
RECIPE_TEXT = FASHION_CONFIG.read_text()
RECIPE = yaml.safe_load(RECIPE_TEXT)
_DIR = Path(tempfile.mkdtemp(prefix="jaxgan-fuzz-"))


@contextlib.contextmanager
def _no_hang(seconds: float = 5.0):
    """Fails (instead of hanging) if one call takes longer than `seconds`."""

    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _refused_or(fn, check):
    """Runs fn(); a JaxganError must be one line; anything else must pass `check`."""
    with _no_hang():
        try:
            result = fn()
        except JaxganError as e:
            assert "\n" not in str(e) and "\r" not in str(e), repr(str(e))
            assert str(e), "empty error message"
            return None
    check(result)
    return result


# --- recipes ---------------------------------------------------------------------------------

def _mutated_recipe_text(draw) -> str:
    lines = RECIPE_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "replace", "insert", "truncate"]))
        junk = draw(st.text(st.characters(codec="utf-8"), max_size=30))
        if action == "delete":
            del lines[i]
        elif action == "replace":
            lines[i] = junk
        elif action == "insert":
            lines.insert(i, junk)
        else:
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]), 0)))]
        if not lines:
            lines = [""]
    return "\n".join(lines)


recipe_bytes = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.composite(lambda draw: _mutated_recipe_text(draw).encode("utf-8", "surrogatepass"))(),
    st.sampled_from([b"\xff\xfe\x00", b"[" * 200 + b"]" * 200, b"a: &x [*x]", b"!!binary AAAA", b"? [a]\n: b",
                     b"a: 1\na: 2\n", b"\x00", "名前: x".encode(), b"name: x\n\x85y: 1"]),
)


@FUZZ
@given(data=recipe_bytes)
@example(data=b"\x80")  # found by this test: not UTF-8 (was UnicodeDecodeError)
def test_load_config_on_arbitrary_bytes(data):
    path = _DIR / "recipe.yaml"
    path.write_bytes(data)
    _refused_or(lambda: load_config(path), lambda c: isinstance(c, Config))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                    st.binary(max_size=8))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.sampled_from(list(RECIPE) + ["train", "lr"])),
                    inner, max_size=4),
), max_leaves=12)


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, prefix + (k,))


@st.composite
def perturbed_recipes(draw):
    """The real recipe with a few keys set to arbitrary trees (or deleted)."""
    raw = copy.deepcopy(RECIPE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(raw) if p]))
        node = raw
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()):
            node[path[-1]] = draw(trees)
        else:
            del node[path[-1]]
    return raw


@FUZZ
@example(raw={"\n": None})  # found by this test: a key with a line break made a two-line error
@given(raw=st.one_of(st.dictionaries(st.text(max_size=10), trees, max_size=5), perturbed_recipes()))
def test_validate_on_arbitrary_trees(raw):
    _refused_or(lambda: validate(raw, source="fuzz.yaml"), lambda c: isinstance(c, Config))


# --- IDX ---------------------------------------------------------------------------------------

@st.composite
def idx_like(draw):
    type_byte = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
    dims = draw(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), max_size=5))
    head = bytes([0, 0, type_byte, draw(st.sampled_from([len(dims), len(dims) + 1, 0, 255]))])
    head += b"".join(struct.pack(">I", d) for d in dims)
    itemsize = {0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(type_byte, 1)
    want = int(np.prod([d for d in dims], dtype=object)) * itemsize if dims else 0
    size = draw(st.sampled_from([want, want - 1, want + 1, 0])) if want < 4096 else draw(st.integers(0, 64))
    return head + draw(st.binary(min_size=max(size, 0), max_size=max(size, 0)))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), idx_like()))
# found by this test: 65536**4 overflowed int64 to 0, so the size check passed (was ValueError)
@example(raw=bytes([0, 0, 8, 4]) + struct.pack(">4I", 2**16, 2**16, 2**16, 2**16))
@example(raw=bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 2**32 - 1, 2**32 - 1))
def test_parse_idx_on_arbitrary_bytes(raw):
    def check(array):
        assert isinstance(array, np.ndarray) and array.ndim >= 1
        assert raw[:2] == b"\x00\x00"

    _refused_or(lambda: parse_idx(raw), check)


# --- MNIST CSV ---------------------------------------------------------------------------------

cells = st.one_of(st.integers(0, 255).map(str), st.integers(0, 9).map(str),
                  st.sampled_from(["-1", "256", "999", "1e2", "1.0", "", " 7 ", "0x1", "1_0", "nan", "²", "\t3"]))
separators = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"])


@st.composite
def csv_like(draw):
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        width = draw(st.sampled_from([COLUMNS, COLUMNS, COLUMNS - 1, COLUMNS + 1, 1, 2]))
        row = [draw(st.integers(0, 9).map(str))] + ["0"] * (width - 1)
        for _ in range(draw(st.integers(0, 3))):  # a few cells changed
            row[draw(st.integers(0, width - 1))] = draw(cells)
        rows.append(",".join(row))
    text = draw(separators).join(rows) if draw(st.booleans()) else "\n".join(rows)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["label,1x1,1x2\n", "\n", "#x\n", ",,,\n"])) + text
    return text + draw(st.sampled_from(["", "\n", "\n\n", "\x00"]))


@FUZZ
@given(text=st.one_of(st.text(max_size=400), csv_like()), label_column=st.sampled_from(["first", "last"]))
def test_csv_digits_on_arbitrary_text(text, label_column):
    path = _DIR / "digits.csv"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))

    def check(images):
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28, 1) and len(images) >= 1

    _refused_or(lambda: read_csv_digits(path, label_column), check)
