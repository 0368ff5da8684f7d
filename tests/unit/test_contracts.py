"""The checks that hold the layers and the types: import-linter's contracts and mypy.

Both run here as the developer runs them (docs/architecture.md, "Checking the layers and
the types"), so a broken contract or a type error fails `make test` with the tool's own
report. The configuration is pyproject.toml's [tool.importlinter] and [tool.mypy].
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib.metadata import packages_distributions
from pathlib import Path

from charter.client import RemoteRegistry
from charter.registry import Registry, ServerRegistry
from charter.service import RegistryService

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
BIN = Path(sys.executable).parent


def _run(command: list[str], cwd: Path, src: Path, timeout: float
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _lint_imports(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    return _run([str(BIN / "lint-imports"), "--no-cache"], cwd, src, timeout=120)


def test_the_import_contracts_hold():
    run = _lint_imports(ROOT, SRC)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_finds_no_error():
    # Strict for domain, store, service, client, fileio, connection and registry; the
    # rest at mypy's default strictness (pyproject.toml [tool.mypy]).
    run = _run([sys.executable, "-m", "mypy"], ROOT, SRC, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_broken_contract_fails_lint_imports(tmp_path):
    # A copy of the package whose domain imports SQLAlchemy and the CLI.
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(SRC / "charter", tmp_path / "src" / "charter",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates",
                                                  "migrations"))
    paths = tmp_path / "src" / "charter" / "domain" / "paths.py"
    paths.write_text(paths.read_text() + "\nimport sqlalchemy\nimport charter.cli\n")
    run = _lint_imports(tmp_path, tmp_path / "src")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "charter.domain is not allowed to import sqlalchemy" in run.stdout
    assert "charter.domain is not allowed to import charter.cli" in run.stdout


def test_every_package_has_an_init_so_the_contracts_see_it():
    # import-linter reads a package through its __init__.py: a folder of modules without
    # one would fall outside every contract.
    bare = sorted(str(folder.relative_to(SRC)) for folder in (SRC / "charter").rglob("*")
                  if folder.is_dir() and any(folder.glob("*.py"))
                  and not (folder / "__init__.py").exists() and "migrations" not in folder.parts)
    assert not bare, f"add an __init__.py to {bare}"


def _charter_modules() -> set[str]:
    """The package's top-level modules and subpackages: charter.domain, charter.web, …"""
    found = set()
    for path in (SRC / "charter").iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            found.add(f"charter.{path.name}")
        elif path.suffix == ".py" and path.name != "__init__.py":
            found.add(f"charter.{path.stem}")
    return found


def _installed_packages() -> set[str]:
    """The import names of every distribution pyproject.toml installs outside `dev`."""
    project = PYPROJECT["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["s3"],
              *project["optional-dependencies"]["signing"]]
    dists = {re.split(r"[\[<>=~! ;]", spec, maxsplit=1)[0].lower().replace("_", "-")
             for spec in wanted}
    return {name for name, owners in packages_distributions().items()
            if not name.startswith("_") and name.isidentifier()
            and any(owner.lower().replace("_", "-") in dists for owner in owners)}


def test_the_domain_contract_forbids_the_rest_of_charter_and_every_third_party_package():
    contract = CONTRACTS["domain-stdlib-only"]
    assert contract["source_modules"] == ["charter.domain"]
    forbidden = set(contract["forbidden_modules"])
    missing = (_charter_modules() - {"charter.domain"} | _installed_packages()) - forbidden
    assert not missing, f"add to domain-stdlib-only's forbidden_modules: {sorted(missing)}"


def test_the_contracts_say_what_the_layers_are():
    below = CONTRACTS["store-artifacts-below-service"]
    assert set(below["source_modules"]) == {"charter.store", "charter.artifacts"}
    above = {"charter.service", "charter.server", "charter.api", "charter.ui", "charter.web",
             "charter.client", "charter.cli", "charter.transfer", "charter.bootstrap",
             "charter.connection", "charter.registry"}
    assert above <= set(below["forbidden_modules"])
    doors = CONTRACTS["doors-not-store"]
    assert set(doors["source_modules"]) == {"charter.api", "charter.ui", "charter.web"}
    assert doors["forbidden_modules"] == ["charter.store"]
    assert set(CONTRACTS["api-ui-independent"]["modules"]) == {"charter.api", "charter.ui"}
    cli = CONTRACTS["nothing-imports-cli"]
    assert set(cli["source_modules"]) == _charter_modules() - {"charter.cli"}
    assert cli["forbidden_modules"] == ["charter.cli"]


# mypy proves that both registries have every method of their interface, with the same
# parameter types and results (charter/connection.py). It does not compare the names of
# positional parameters, which a caller may pass by keyword, nor defaults, which decide
# what a call without the argument does: those are compared here, against the interface.

def _parameters(function: Callable[..., object]) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def _members(interface: type) -> list[str]:
    return sorted(name for name, member in vars(interface).items()
                  if callable(member) and not name.startswith("_"))


def test_both_registries_name_and_default_every_parameter_as_the_interface_does():
    for name in _members(Registry):
        expected = _parameters(getattr(Registry, name))
        assert _parameters(getattr(RegistryService, name)) == expected, f"service: {name}"
        assert _parameters(getattr(RemoteRegistry, name)) == expected, f"remote: {name}"
    for name in _members(ServerRegistry):
        expected = _parameters(getattr(ServerRegistry, name))
        assert _parameters(getattr(RegistryService, name)) == expected, f"service: {name}"


def _public_methods(cls: type) -> set[str]:
    return {name for name, member in inspect.getmembers(cls, callable)
            if not name.startswith("_")}


def test_every_public_method_of_either_registry_is_declared_in_an_interface():
    # mypy proves each registry has what its interface declares; this makes sure the
    # interface declares everything a registry offers, so a use case added to the service
    # alone is a decision (ServerRegistry) rather than an oversight.
    declared = _public_methods(ServerRegistry)
    assert not _public_methods(RegistryService) - declared, (
        "declare it in charter/registry.py: Registry if the remote client offers it too "
        "(add it to client/), else ServerRegistry")
    assert not _public_methods(RemoteRegistry) - _public_methods(Registry) - {"close"}, (
        "declare it in charter/registry.py's Registry, and give the service the same method")
