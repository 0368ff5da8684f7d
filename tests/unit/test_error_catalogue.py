"""The one error catalogue: every code is declared once, with its kind, and used by name.

``charter.domain.error_codes`` declares each code with its kind. These tests hold the
source to it: raise sites use the class of the code's kind, and no code is spelled out
twice.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import charter.domain
from charter.domain import error_codes
from charter.domain.error_codes import CATALOGUE
from charter.domain.errors import CharterError

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "charter"


def error_classes() -> set[type[CharterError]]:
    """CharterError and every subclass the domain defines (InvalidName included)."""
    for info in pkgutil.iter_modules(charter.domain.__path__):
        importlib.import_module(f"charter.domain.{info.name}")
    found, todo = set(), [CharterError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    return found


def test_every_code_is_dotted_named_after_itself_and_of_a_known_kind():
    constants = {name: value for name, value in vars(error_codes).items()
                 if name.isupper() and isinstance(value, str)}
    assert set(constants.values()) == set(CATALOGUE)
    assert len(CATALOGUE) > 100
    assert {name: code for name, code in constants.items()
            if name != code.upper().replace(".", "_")} == {}
    assert [code for code in CATALOGUE
            if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", code) and code != "internal"] == []
    kinds = {cls.kind for cls in error_classes()}
    assert {code: entry.kind for code, entry in CATALOGUE.items() if entry.kind not in kinds} == {}


# ---- the source keeps to the catalogue ---------------------------------------------------


def python_files() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py") if path != SRC / "domain" / "error_codes.py")


def domain_names(tree: ast.Module, path: Path) -> dict[str, Any]:
    """What the module's names for domain objects are: its imports from charter.domain
    (``from charter.domain.errors import NotFound``, ``from charter.domain import
    error_codes as codes``), and its own classes when it is a domain module."""
    names: dict[str, Any] = {}
    if path.parent == SRC / "domain":
        module = importlib.import_module(f"charter.domain.{path.stem}")
        names.update(vars(module))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("charter.domain"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                names[alias.asname or alias.name] = getattr(module, alias.name)
    return names


def resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(resolve(node.value, names), node.attr, None)
    return None


def raise_sites() -> list[tuple[str, type[CharterError], str]]:
    """(where, error class, code) of every ``SomeError(codes.X, …)`` in the source."""
    sites = []
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        names = domain_names(tree, path)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            cls = resolve(node.func, names)
            if isinstance(cls, type) and issubclass(cls, CharterError):
                code = resolve(node.args[0], names)
                if isinstance(code, str):
                    where = f"{path.relative_to(SRC)}:{node.lineno}"
                    sites.append((where, cls, code))
    return sites


def test_every_raise_site_uses_the_class_of_its_codes_kind():
    """The docs' status for a code is its kind's, so a code raised as another kind would
    answer a status nobody documented."""
    sites = raise_sites()
    assert len(sites) > 200
    assert [f"{where}: {cls.__name__}({code}) but {code} is {CATALOGUE[code].kind!r}"
            for where, cls, code in sites
            if code in CATALOGUE and cls.kind != CATALOGUE[code].kind] == []
    assert [f"{where}: {code} is not in the catalogue" for where, _, code in sites
            if code not in CATALOGUE] == []


def test_every_code_in_the_catalogue_is_used_somewhere():
    """No dead codes: each is raised, or handed to a check that raises it, or compared."""
    used = set()
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        names = domain_names(tree, path)
        used |= {code for node in ast.walk(tree) if isinstance(node, ast.Attribute | ast.Name)
                 if isinstance(code := resolve(node, names), str)}
    assert sorted(set(CATALOGUE) - used) == []


def test_no_code_is_spelled_out_in_the_source():
    """Codes are written once, in domain/error_codes.py; everywhere else by name, so a
    comparison can never hold a typo."""
    found = [f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}"
             for path in python_files()
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Constant) and node.value in CATALOGUE]
    assert found == []
