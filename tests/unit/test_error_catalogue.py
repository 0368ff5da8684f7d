"""The one error catalogue: every kind has a row, every code a kind, and the docs agree.

``charter.domain.error_codes`` declares each code with its kind;
``charter.domain.errors.OUTCOMES`` maps each kind to its HTTP status, MLflow
``error_code`` and status, and CLI exit code. These tests hold the source (raise
sites, no code spelled out twice) and the docs' error tables to them.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import charter.domain
from charter.domain import error_codes
from charter.domain.error_codes import CATALOGUE
from charter.domain.errors import OUTCOMES, CharterError, http_status

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "charter"
DOCS = ROOT / "docs"


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


def test_every_error_class_has_a_row_and_every_row_a_class():
    classes = error_classes()
    assert len(classes) >= 10
    assert {cls.__name__: cls.kind for cls in classes if cls.kind not in OUTCOMES} == {}
    assert {cls.kind for cls in classes} == set(OUTCOMES)


def test_a_class_of_a_kind_without_a_row_cannot_be_defined():
    with pytest.raises(TypeError, match="no row in charter.domain.errors.OUTCOMES"):
        type("Throttled", (CharterError,), {"kind": "throttled"})


def test_no_client_error_answers_a_5xx_anywhere():
    """A refusal of what the caller sent is never a server error: the MLflow client
    retries 5xx for minutes, and DESIGN reserves 5xx (but 503/507) for Charter's bugs."""
    for kind in ("invalid", "not_found", "exists", "conflict", "unauthenticated", "forbidden"):
        answer = OUTCOMES[kind]
        assert answer.http_status < 500 and answer.mlflow_status < 500, kind
        assert answer.exit_code not in (0, 1, 2), kind  # 1: other errors, 2: usage


def test_every_code_is_dotted_named_after_itself_and_of_a_kind_with_a_row():
    constants = {name: value for name, value in vars(error_codes).items()
                 if name.isupper() and isinstance(value, str)}
    assert set(constants.values()) == set(CATALOGUE)
    assert len(CATALOGUE) > 100
    assert {name: code for name, code in constants.items()
            if name != code.upper().replace(".", "_")} == {}
    assert [code for code in CATALOGUE
            if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", code) and code != "internal"] == []
    assert {code: entry.kind for code, entry in CATALOGUE.items()
            if entry.kind not in OUTCOMES} == {}


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


# ---- the docs' error tables say what the catalogue says ----------------------------------


def section(page: str, start: str, end: str) -> str:
    text = (DOCS / page).read_text()
    assert start in text and end in text, f"{page} lost its markers {start} … {end}"
    return text.split(start, 1)[1].split(end, 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the markdown tables in ``text``, header and rule left out."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.strip().startswith("|")]
    return [row for row in rows if not set("".join(row)) <= set("-: ")][1:]


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_docs_rest_md_lists_every_code_an_api_client_can_meet_with_its_status():
    rows = table_rows(section("rest.md", "<!-- error codes -->", "<!-- /error codes -->"))
    documented = {ticked(code)[0]: int(status) for code, status, _ in rows}
    expected = {code: entry.http_status or OUTCOMES[entry.kind].http_status
                for code, entry in CATALOGUE.items() if entry.api}
    assert documented == expected
    listed = [ticked(code)[0] for code, _, _ in rows]
    assert listed == sorted(set(listed) - {"internal"}) + ["internal"]


def test_docs_rest_md_kinds_table_matches_the_one_table():
    rows = table_rows(section("rest.md", "<!-- error kinds -->", "<!-- /error kinds -->"))
    classes = {cls.__name__: cls for cls in error_classes()}
    seen = {}
    for kind_cell, status, class_cell, examples in rows:
        kind, cls = ticked(kind_cell)[0], classes[ticked(class_cell)[0]]
        seen[kind] = int(status)
        assert cls.kind == kind, kind
        assert [code for code in ticked(examples) if CATALOGUE[code].kind != kind] == [], kind
    assert seen == {kind: answer.http_status for kind, answer in OUTCOMES.items()}


def test_docs_cli_md_exit_codes_match_the_one_table():
    rows = table_rows(section("cli.md", "<!-- exit codes -->", "<!-- /exit codes -->"))
    documented = {kind: int(code) for code, _, kinds in rows for kind in ticked(kinds)}
    assert documented == {kind: answer.exit_code for kind, answer in OUTCOMES.items()}


def test_docs_mlflow_md_error_codes_match_the_one_table():
    rows = table_rows(section("mlflow.md", "<!-- error kinds -->", "<!-- /error kinds -->"))
    documented = {ticked(kind)[0]: (ticked(code)[0], int(status)) for kind, code, status in rows}
    assert documented == {kind: (answer.mlflow_code, answer.mlflow_status)
                          for kind, answer in OUTCOMES.items()}
    # the examples above it answer only pairs of the table, or the surface's own 404
    examples = table_rows(section("mlflow.md", "## What you get", "<!-- error kinds -->"))
    pairs = set(documented.values()) | {("ENDPOINT_NOT_FOUND", 404)}
    answered = [re.fullmatch(r"`([A-Z_]+)`, (\d{3})", row[1]) for row in examples]
    assert all(answered) and len(answered) > 10
    assert [m.groups() for m in answered if m and (m[1], int(m[2])) not in pairs] == []


def test_docs_python_md_names_every_class_with_codes_of_its_kind():
    rows = table_rows(section("python.md", "<!-- error classes -->", "<!-- /error classes -->"))
    classes = {cls.__name__: cls for cls in error_classes()}
    named = set()
    for class_cell, _, examples in rows:
        listed = [classes[name] for name in ticked(class_cell)]
        named |= {cls.kind for cls in listed}
        assert [code for code in ticked(examples)
                if CATALOGUE[code].kind not in {cls.kind for cls in listed}] == [], class_cell
    assert named == set(OUTCOMES) - {"error"}


def test_docs_architecture_md_names_every_kind_with_its_class():
    rows = table_rows(section("architecture.md", "<!-- error kinds -->", "<!-- /error kinds -->"))
    classes = {cls.__name__: cls for cls in error_classes()}
    pairs = [(kind, classes[name].kind) for kinds, names, _ in rows
             for kind, name in zip(ticked(kinds), ticked(names), strict=True)]
    assert [kind for kind, of_class in pairs if kind != of_class] == []
    assert sorted(kind for kind, _ in pairs) == sorted(OUTCOMES)


def test_http_status_is_the_kinds_unless_the_code_has_its_own():
    from charter.domain.errors import InvalidInput, NotFound

    assert http_status(NotFound(error_codes.MODEL_NOT_FOUND, "m")) == 404
    assert http_status(InvalidInput(error_codes.METHOD_NOT_ALLOWED, "m")) == 405
    assert http_status(CharterError(error_codes.INTERNAL, "m")) == 500


def test_the_remote_client_reads_a_body_without_a_kind_by_its_codes_kind():
    """An answer that names no kind (an older server, a proxy passing it on) is rebuilt
    from the catalogue, so `except AlreadyExists` catches name.redirected too."""
    from charter.client.session import kind_of

    assert kind_of(409, {"code": "name.redirected"}) == "exists"
    assert kind_of(409, {"code": "stage.production_taken"}) == "conflict"
    assert kind_of(500, {"code": "artifact.digest_mismatch"}) == "integrity"  # not "error"
    assert kind_of(400, {"code": "method.not_allowed"}) == "invalid"
    assert kind_of(409, {"code": "no.such_code"}) == "conflict"  # unknown: by status
    assert kind_of(418, {}) == "error"
