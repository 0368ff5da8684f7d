"""Rules of the source tree that prose alone would not keep (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "charter"


def modules(folder: Path = SRC) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, what) for every import in ``path``: ``charter.store`` for ``import
    charter.store``, ``charter:__version__`` for ``from charter import __version__``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}:{alias.name}") for alias in node.names]
    return found


def test_nothing_below_the_package_root_imports_the_package_root():
    """``import charter`` inside the package runs its __init__ for an attribute or two;
    the version is in charter/_version.py and connect() in charter/connection.py."""
    offenders = [f"{path.relative_to(SRC)}:{line}: {name}"
                 for path in modules() if path != SRC / "__init__.py"
                 for line, name in imported_names(path)
                 if name == "charter" or name.startswith("charter:")]
    assert offenders == []


def test_the_package_root_reexports_the_version_and_connect():
    import charter
    from charter._version import __version__
    from charter.connection import connect

    assert charter.__version__ == __version__ and charter.connect is connect
