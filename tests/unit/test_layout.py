"""Rules of the source tree that prose alone would not keep (docs/architecture.md)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
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


def test_signing_imports_only_the_domain():
    """Keys and signatures are adapters the service, the client and the CLI share: they
    may not reach into storage, HTTP or use cases."""
    offenders = [f"{path.relative_to(SRC)}:{line}: {name}"
                 for path in modules(SRC / "signing")
                 for line, name in imported_names(path)
                 if name.startswith("charter.")
                 and not name.startswith(("charter.domain", "charter.signing"))]
    assert offenders == []


# ---- the service reaches storage only through the store's named functions ------------

SERVICE = SRC / "service"
# What building SQL or touching ORM rows looks like in a use case (docs/architecture.md);
# a quoted "session." is the error code session.expired, not a session.
SQL_IN_USE_CASES = re.compile(r"select\(|\bsql\.run\(|\.execute\("
                              r"|[\"'](SELECT|UPDATE|INSERT|DELETE) |(?<![\"'])session\.|tables\.")


def test_use_cases_build_no_sql_and_touch_no_orm_rows():
    found = [f"{path.name}:{number}: {text.strip()}"
             for path in modules(SERVICE)
             for number, text in enumerate(path.read_text().splitlines(), start=1)
             if SQL_IN_USE_CASES.search(text)]
    assert found == []


def test_the_service_imports_no_database_library_and_no_table():
    """Transactions come from store.database and rows from store modules' functions."""
    found = [f"{path.name}:{line}: {name}" for path in modules(SERVICE)
             for line, name in imported_names(path)
             if name.split(":")[0].split(".")[0] in ("sqlalchemy", "psycopg", "sqlite3")
             or name.startswith(("charter.store.tables", "charter.store:tables"))]
    assert found == []


def test_every_use_case_mixin_stands_on_the_one_base_and_the_service_has_them_all():
    from charter.service import RegistryService
    from charter.service.base import ServiceBase

    mixins = set()
    for info in pkgutil.iter_modules([str(SERVICE)]):
        module = importlib.import_module(f"charter.service.{info.name}")
        mixins |= {cls for name, cls in inspect.getmembers(module, inspect.isclass)
                   if name.endswith("Mixin") and cls.__module__ == module.__name__}
    assert {cls.__name__: cls.__bases__ for cls in mixins if cls.__bases__ != (ServiceBase,)
            } == {}
    assert set(RegistryService.__bases__) == mixins


# ---- one data-access style per store module -------------------------------------------

# The infrastructure under the aggregates: the engines, the unit of work, the driver and its
# connections' liveness, the schema (the tables/ package) and its DDL, the denied-attempts
# file; the group commit, PostgreSQL's read connections and SQLite's write turn.
STORE_INFRASTRUCTURE = {"database.py", "driver.py", "engines.py", "liveness.py", "triggers.py",
                        "denials.py", "group_commit.py", "pg_loop.py", "pg_reads.py",
                        "write_turn.py"}


def access_style(path: Path) -> set[str]:
    """"sqlalchemy" if the module imports SQLAlchemy, "plain" if it runs driver SQL."""
    names = [name for _, name in imported_names(path)]
    style = set()
    if any(name.startswith("sqlalchemy") for name in names):
        style.add("sqlalchemy")
    if any(name in ("charter.store.driver:reader_for", "charter.store.driver:Reader")
           for name in names):
        style.add("plain")
    return style


def test_each_store_module_is_plain_driver_sql_or_sqlalchemy_not_both():
    styles = {path.name: access_style(path) for path in modules(SRC / "store")
              if path.parent.name == "store" and path.name not in STORE_INFRASTRUCTURE}
    assert {name: style for name, style in styles.items() if len(style) > 1} == {}
    # the hot paths (bench/README.md) stay plain SQL
    for name in ("models.py", "versions.py", "search.py", "events.py"):
        assert styles[name] == {"plain"}, name


# ---- the web: one root above two doors that never import each other --------------------


def charter_imports(path: Path) -> set[str]:
    """The charter modules ``path`` imports, anywhere in it (inside functions too):
    ``charter.ui.page`` for ``from charter.ui.page import render`` and for
    ``from charter.ui import page``."""
    found = set()
    for _, name in imported_names(path):
        module, _, member = name.partition(":")
        if not module.startswith("charter"):
            continue
        candidate = f"{module}.{member}" if member else module
        is_module = (SRC.parent / (candidate.replace(".", "/") + ".py")).exists() or (
            SRC.parent / candidate.replace(".", "/")).is_dir()
        found.add(candidate if member and is_module else module)
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC.parent).with_suffix("").parts)


def test_api_and_ui_never_import_each_other_nor_the_server():
    """api/ and ui/ share charter.web; only charter.server (and `charter serve`) sees both."""
    rules = {"api": ("charter.ui", "charter.server"), "ui": ("charter.api", "charter.server")}
    found = [f"{path.relative_to(SRC)}: {name}"
             for door, forbidden in rules.items() for path in modules(SRC / door)
             for name in charter_imports(path)
             if name == forbidden[0] or name.startswith(tuple(f + "." for f in forbidden))
             or name in forbidden]
    assert found == []


def test_nothing_below_the_web_root_imports_it():
    allowed = (SRC / "server", SRC / "cli")
    found = [f"{path.relative_to(SRC)}: {name}" for path in modules()
             if not path.is_relative_to(allowed[0]) and not path.is_relative_to(allowed[1])
             for name in charter_imports(path) if name.startswith("charter.server")]
    assert found == []


def test_the_web_ui_modules_import_no_cycle():
    """A page module that needs another's page imports it; never both ways (the version
    page and its approval forms once did, through an import inside a function)."""
    graph = {module_name(path): {name for name in charter_imports(path)
                                 if name.startswith("charter.ui.")}
             for path in modules(SRC / "ui")}
    cycles = []

    def visit(node: str, trail: tuple[str, ...]) -> None:
        for following in sorted(graph.get(node, ())):
            if following in trail:
                cycles.append(trail[trail.index(following):] + (following,))
            else:
                visit(following, (*trail, following))

    for start in sorted(graph):
        visit(start, (start,))
    assert cycles == []
