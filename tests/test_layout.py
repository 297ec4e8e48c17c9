"""The codebase's shape, held: the layers (core, run machinery, PyTorch interop, command-line
front ends), short functions, no reaching into another module's private names, no two modules
of one name or whose names differ only by a suffix, and a deliberate public surface."""

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


# Modules kept only so an earlier command keeps working; each holds nothing but a re-export.
ALIASES = {"convert_cli": "convert"}


def _stems() -> list[str]:
    """Every module's own name (a package's is its folder's), duplicates kept."""
    return sorted(path.parent.name if path.name == "__init__.py" else path.stem for path in _modules()
                  if path.stem not in ALIASES)


def test_no_two_modules_differ_only_by_a_suffix():
    """`train`/`trainer`, `sample`/`sampling`: a reader cannot tell which is which."""
    pairs = [(a, b) for a, b in itertools.combinations(_stems(), 2) if _same_root(_root(a), _root(b))]
    assert not pairs, f"module names differing by a suffix (or equal): {pairs}"


def test_an_alias_module_only_re_exports():
    for alias, target in ALIASES.items():
        tree = ast.parse((PACKAGE / f"{alias}.py").read_text())
        defined = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert not defined, f"jaxgan/{alias}.py defines {defined[0].name}; it only points to jaxgan.{target}"


# --- layers -------------------------------------------------------------------------------------

CORE_PACKAGES = ("data", "models", "ops", "quality")
CORE_MODULES = ("config", "gan", "losses", "steps", "population", "errors", "files", "images", "parallel", "machine")


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _reaches(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in _imports(path) if any(name == f or name.startswith(f + ".") for f in forbidden))


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if rel.parts[0] in ("run", "interop"):
        return rel.parts[0]
    if rel.parts[0] in CORE_PACKAGES or (len(rel.parts) == 1 and rel.stem in CORE_MODULES):
        return "core"
    return "front end"


def _crossings(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)} imports {', '.join(_reaches(path, forbidden))}"
            for path in _modules() if _layer(path) == layer and _reaches(path, forbidden)]


def test_the_core_imports_neither_the_run_machinery_nor_pytorch():
    crossings = _crossings("core", ("jaxgan.run", "jaxgan.interop", "torch", "torch_ref"))
    assert not crossings, "\n".join(crossings)


def test_the_run_machinery_does_not_import_the_pytorch_interop():
    crossings = _crossings("run", ("jaxgan.interop", "torch", "torch_ref"))
    assert not crossings, "\n".join(crossings)


def test_only_the_interop_imports_pytorch():
    crossings = _crossings("front end", ("torch", "torch_ref"))
    assert not crossings, "\n".join(crossings)


def test_every_module_outside_the_core_is_a_known_front_end_or_in_a_room():
    """A new top-level module names its layer: core (CORE_MODULES) or a command (`__main__`)."""
    loose = [path.name for path in _modules() if _layer(path) == "front end" and path.name != "__init__.py"
             and path.stem != "cli" and "__main__" not in path.read_text()]
    assert not loose, f"top-level modules that are neither core nor a command: {loose}"


def test_the_seeds_own_modules_import_nothing_from_jaxgan():
    """torch_ref/<recipe>.py hold the seeds' code; only torch_ref's glue reads jaxgan's recipes."""
    torch_ref = PACKAGE.parent / "torch_ref"
    glue = {"__init__", "data", "models", "steps", "train", "tuned"}
    seeds = [p for p in sorted(torch_ref.glob("*.py")) if p.stem not in glue]
    assert len(seeds) >= 7
    crossings = [f"torch_ref/{p.name} imports {', '.join(_reaches(p, ('jaxgan',)))}" for p in seeds
                 if _reaches(p, ("jaxgan",))]
    assert not crossings, "\n".join(crossings)


def test_public_surface_is_re_exported_from_the_package():
    for name in ("load_config", "build_gan", "init_state", "make_train_step", "make_book_step",
                 "make_train_chunk", "make_generate", "train_and_evaluate", "from_torch", "to_torch"):
        assert callable(getattr(jaxgan, name)), name
    assert set(jaxgan.__all__) >= {"load_config", "build_gan", "train_and_evaluate"}
