"""charter.fileio's rule (its README): standard library only, nothing else of Charter;
and the code that moves bytes takes it from there, not through artifacts.common."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import charter
from charter import fileio

PACKAGE = Path(charter.__file__).parent
FILEIO = Path(fileio.__file__).parent


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def imported_modules(path: Path) -> list[str]:
    """Every module a fileio module imports; ``from .x`` is charter.fileio.x."""
    found = []
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = {0: "", 1: "charter.fileio."}.get(node.level, "charter.")
            found.append(package + (node.module or ""))
    return found


def defined_names(path: Path) -> set[str]:
    """The functions, classes and constants a module defines at its top level."""
    names = set()
    for node in parsed(path).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def names_imported_from(path: Path, module: str) -> set[str]:
    return {alias.name for node in ast.walk(parsed(path))
            if isinstance(node, ast.ImportFrom) and node.module == module
            for alias in node.names}


def test_fileio_imports_only_the_standard_library_and_itself():
    def allowed(module: str) -> bool:
        top = module.split(".")[0]
        return (top in sys.stdlib_module_names or top == "__future__"
                or module == "charter.fileio" or module.startswith("charter.fileio."))
    outside = {f"{path.name}: {module}" for path in FILEIO.glob("*.py")
               for module in imported_modules(path) if not allowed(module)}
    assert outside == set()


def test_client_api_and_stores_take_file_io_from_fileio_not_artifacts_common():
    file_io = set().union(*(defined_names(path) for path in FILEIO.glob("*.py")))
    assert {"splice_from", "BackgroundWriter", "reserve", "CHUNK"} <= file_io
    through_common = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for folder in ("client", "api", "artifacts") for path in (PACKAGE / folder).rglob("*.py")
        for name in names_imported_from(path, "charter.artifacts.common") & file_io}
    assert through_common == set()
