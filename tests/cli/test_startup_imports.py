"""What a command imports before it answers (issue 15: `charter ls`'s first screen fast).

Each case runs the real entry point in a fresh interpreter and lists the top-level
packages loaded once the command has finished. The assertion is on modules, never on
times: a command that reads must not pay for the server stack, migrations, signing,
S3 or (embedded) an HTTP client, and no command pays for Pydantic just to parse its
arguments (docs/cli.md, "Start-up"). `charter ls` on a SQLite registry whose schema is
current reads it with the standard library's sqlite3 (store/read_only.py): it loads
neither SQLAlchemy nor the service, so neither comes before its first line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.conftest import clean_env
from tests.e2e.server import running_server

NAME = "fraud_detector"
# Never needed to read a registry from the command line, embedded or remote.
SERVER_SIDE = {"fastapi", "uvicorn", "starlette", "jinja2", "alembic", "cryptography",
               "model_signing", "boto3", "botocore", "mlflow", "faker"}
# Typer's coercion needs it only for numbers, paths and lists; text options never.
ARGUMENTS = {"pydantic", "pydantic_core"}
# What the full embedded registry loads, and `charter ls` on SQLite does not.
FULL_REGISTRY = {"sqlalchemy", "charter.service", "charter.store.database",
                 "charter.store.tables"}
# The policies' parsers (~40 ms): a registry with no policy configured has nothing for
# them to check, so `charter ls` there imports none (bootstrap.check_settings).
POLICY_PARSERS = {f"charter.domain.{name}" for name in (
    "gates", "retention", "webhooks", "signers", "consumers", "checkpoints", "access",
    "naming", "sources")}

RUN_AND_LIST_MODULES = """
import json, sys
sys.argv = ["charter", *sys.argv[1:]]
from charter.cli.main import main
try:
    main()
except SystemExit as stop:
    code = stop.code
else:
    code = 0
loaded = {m.split(".")[0] for m in sys.modules} | {
    ".".join(m.split(".")[:3]) for m in sys.modules if m.startswith("charter.")}
print(json.dumps({"exit": code, "modules": sorted(loaded)}), file=sys.stderr)
"""


def loaded(home: Path, *args: str, registry: str | None = None) -> set[str]:
    env = clean_env(home)
    if registry:
        env["CHARTER_REGISTRY_URL"] = registry
    done = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, *args], env=env,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["exit"] in (0, None), done.stderr
    assert done.stdout, "the command printed nothing"
    return set(report["modules"])


@pytest.fixture(scope="module")
def home(tmp_path_factory, runner_for, model_folder) -> Path:
    home = tmp_path_factory.mktemp("startup") / "home"
    run = runner_for(home)
    folder = model_folder(home.parent / "model")
    assert run("register", NAME, str(folder)).returncode == 0
    assert run("tag", NAME, "team=fraud").returncode == 0
    return home


@pytest.mark.parametrize("args", [
    ["ls"], ["ls", "--name", "fraud", "--tag", "team=fraud"], ["ls", "--json"],
    ["ls", "--all", "--stage", "None", "--page-token", ""],
], ids=" ".join)
def test_ls_on_sqlite_loads_neither_sqlalchemy_nor_the_service(home, args):
    modules = loaded(home, *args)
    assert NAME in (home / "charter.db").read_bytes().decode("latin-1")  # a real registry
    assert not modules & (SERVER_SIDE | ARGUMENTS | FULL_REGISTRY | {"httpx", "yaml"})
    assert not modules & POLICY_PARSERS
    # asyncio (~27 ms here) is the server's: store/liveness imports it where it awaits
    assert "asyncio" not in modules
    assert {"sqlite3", "charter.store.read_only"} <= modules  # it did read the database


@pytest.mark.parametrize("args", [["show", NAME], ["resolve", f"models:/{NAME}/latest"]],
                         ids=" ".join)
def test_an_embedded_read_imports_no_server_side_package(home, args):
    modules = loaded(home, *args)
    assert not modules & (SERVER_SIDE | ARGUMENTS | {"httpx", "yaml"})
    assert "sqlalchemy" in modules  # it did open the database


def test_help_imports_no_server_side_package(home):
    assert not loaded(home, "--help") & (SERVER_SIDE | ARGUMENTS | {"sqlalchemy", "httpx"})


def test_ls_against_a_server_imports_neither_the_server_nor_the_database(home):
    with running_server(home) as url:
        modules = loaded(home, "ls", registry=url)
    assert not modules & (SERVER_SIDE | ARGUMENTS | {"sqlalchemy"})
    assert "httpx" in modules  # it did ask the server
