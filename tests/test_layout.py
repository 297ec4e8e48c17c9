"""The codebase's shape, held: short functions, no reaching into another module's private
names, no two modules whose names differ only by a suffix, and a deliberate public surface."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import jaxgan

PACKAGE = Path(jaxgan.__file__).parent
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_function_in_the_package_is_longer_than_sixty_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def test_no_module_imports_another_modules_private_names():
    crossings = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxgan"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        crossings.append(f"{path.relative_to(PACKAGE.parent)}: from {node.module} import {alias.name}")
    assert not crossings, "\n".join(crossings)


SUFFIXES = ("_cli", "ation", "ion", "ing", "er", "ed", "e", "s")


def _root(stem: str) -> str:
    """A module name without the suffixes that make `train`/`trainer`, `convert`/`convert_cli`."""
    for suffix in SUFFIXES:
        if stem.endswith(suffix) and len(stem) - len(suffix) >= 4:
            return _root(stem[: -len(suffix)])
    return stem


def _same_root(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 5 and long.startswith(short))


def test_no_two_modules_differ_only_by_a_suffix():
    """`train`/`trainer`, `sample`/`sampling`: a reader cannot tell which is which."""
    stems = sorted({path.parent.name if path.name == "__init__.py" else path.stem for path in _modules()})
    pairs = [(a, b) for a, b in itertools.combinations(stems, 2) if _same_root(_root(a), _root(b))]
    assert not pairs, f"module names differing by a suffix: {pairs}"


def test_public_surface_is_re_exported_from_the_package():
    for name in ("load_config", "build_gan", "init_state", "make_train_step", "make_book_step",
                 "make_train_chunk", "make_generate", "train_and_evaluate", "from_torch", "to_torch"):
        assert callable(getattr(jaxgan, name)), name
    assert set(jaxgan.__all__) >= {"load_config", "build_gan", "train_and_evaluate"}
