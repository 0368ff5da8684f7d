"""`charter ls` on an embedded SQLite registry reads through store/read_only.py, without
SQLAlchemy or the service (docs/cli.md, "Start-up"); it must print, byte for byte, what
the full registry prints, and step aside whenever only the full registry can answer.

"Full path" below is the same command with the read-only door shut
(``connect_listing`` answering None, as it does for a server or PostgreSQL).
"""

from __future__ import annotations

import inspect
import json
import sqlite3
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from tests.cli.conftest import STABLE_ENV, clean_env
from typer.testing import CliRunner

from charter.cli.main import app
from charter.connection import connect, connect_listing
from charter.registry import Registry
from charter.store.driver import SCHEMA_REVISION
from charter.store.read_only import ModelListing, sqlite_path

MODELS = 30  # more than the first page (reads.FIRST_PAGE): `ls` reads a second one

# Runs the real entry point; "full" shuts the read-only door first. Prints, on stderr's
# last line, whether SQLAlchemy was loaded by the end.
RUN = """
import json, sys
if sys.argv[1] == "full":
    import charter.cli.state
    charter.cli.state.connect_listing = lambda *args, **kwargs: None
sys.argv = ["charter", *sys.argv[2:]]
from charter.cli.main import main
try:
    main()
except SystemExit as stop:
    code = stop.code
else:
    code = 0
print(json.dumps({"exit": code, "sqlalchemy": "sqlalchemy" in sys.modules}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """Models with many versions, stages, aliases, tags, a former name, and odd names."""
    home = tmp_path_factory.mktemp("listing") / "home"
    registry = connect(home=home, actor="ci-bot", naming_mode="off")  # odd names too
    for index in range(MODELS):
        name = f"m{index:02d}_fraud_scorer" if index % 4 else f"M{index:02d}_churn_model"
        registry.register(name, f"runs:/run{index}/model")
        registry.set_model_tag(name, "team", f"t{index % 3}")
    for number in range(2, 13):  # 12 versions: the tree shows 10 and "… 2 more"
        registry.register("m01_fraud_scorer", f"runs:/r{number}/model")
    for version, stages in ((3, ["Staging", "Production"]), (11, ["Staging"]),
                            (2, ["Staging", "Archived"])):
        for stage in stages:
            registry.transition("m01_fraud_scorer", version, stage, reason="as planned")
    registry.set_alias("m01_fraud_scorer", "champion", 3)
    registry.set_alias("m01_fraud_scorer", "challenger", 11)
    registry.rename_model("m02_fraud_scorer", "m02_fraud_ranker", reason="it ranks")
    registry.update_model("m05_fraud_scorer", description="score ✓ «fraud»")
    registry.db.dispose()
    return home


def invoke(home: Path, monkeypatch: pytest.MonkeyPatch, path: str, *args: str):
    with monkeypatch.context() as patch:
        if path == "full":
            patch.setattr("charter.cli.state.connect_listing", lambda *a, **k: None)
        return CliRunner().invoke(app, ["--home", str(home), *args], env=STABLE_ENV)


def page_token(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    hint = invoke(home, monkeypatch, "full", "ls", "--limit", "2").stderr.splitlines()[-1]
    return hint.rsplit(" ", 1)[1]


CASES = [
    [], ["--all"], ["--json"], ["--all", "--json"], ["--name", "FRAUD"], ["--name", "churn"],
    ["--tag", "team=t1"], ["--tag", "team"], ["--stage", "production"],
    ["--tag", "team=t1", "--stage", "Staging", "--json"], ["--limit", "2"],
    ["--limit", "27", "--json"], ["--limit", "3", "--name", "scorer"],
    ["--page-token", "TOKEN"], ["--page-token", "TOKEN", "--limit", "1", "--json"],
    ["--tag", "team=nobody"], ["--tag", "team=nobody", "--json"],
    # refusals: the same message and exit code from either path
    ["--tag", "=x"], ["--stage", "Retired"], ["--page-token", "not-a-token"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda args: " ".join(args) or "(none)")
def test_read_only_ls_prints_what_the_full_registry_prints(home, monkeypatch, args):
    assert isinstance(connect_listing(home=home), ModelListing)  # the door is open here
    token = page_token(home, monkeypatch) if "TOKEN" in args else ""
    args = ["ls", *(token if arg == "TOKEN" else arg for arg in args)]
    fast, full = (invoke(home, monkeypatch, path, *args) for path in ("fast", "full"))
    assert (fast.exit_code, fast.stdout, fast.stderr) == (
        full.exit_code, full.stdout, full.stderr)
    assert fast.stdout or fast.stderr


def run(home: Path, path: str, *args: str, env: dict[str, str] | None = None
        ) -> tuple[bytes, bytes, dict[str, object]]:
    done = subprocess.run([sys.executable, "-c", RUN, path, *args], capture_output=True,
                          env={**clean_env(home), **(env or {})}, timeout=120)
    *err, report = done.stderr.splitlines(keepends=True)
    return done.stdout, b"".join(err), json.loads(report)


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1", "COLUMNS": "60"}],
                         ids=["piped", "terminal"])
@pytest.mark.parametrize("args", [[], ["--all", "--tag", "team"]], ids=" ".join)
def test_the_entry_point_prints_the_same_bytes_without_sqlalchemy(home, env, args):
    fast_out, fast_err, fast = run(home, "fast", "ls", *args, env=env)
    full_out, full_err, full = run(home, "full", "ls", *args, env=env)
    assert (fast_out, fast_err, fast["exit"]) == (full_out, full_err, full["exit"])
    assert fast_out.count(b"fraud_scorer") >= 20
    assert (fast["sqlalchemy"], full["sqlalchemy"]) == (False, True)
    if env:
        assert b"\x1b[" in fast_out  # Rich's styles: the terminal branch did run


def revision(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_a_database_that_needs_migrating_is_listed_by_the_full_registry(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    database = home / "charter.db"
    engine = create_engine(f"sqlite:///{database}")
    config = Config()
    config.set_main_option("script_location", str(resources.files("charter.store") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")  # one revision behind
    engine.dispose()
    assert revision(database) != SCHEMA_REVISION
    assert connect_listing(home=home) is None
    out, _, report = run(home, "fast", "ls")
    assert out.startswith(b"No models yet.") and report == {"exit": 0, "sqlalchemy": True}
    assert revision(database) == SCHEMA_REVISION  # the full registry migrated it
    assert isinstance(connect_listing(home=home), ModelListing)


def test_no_database_yet_is_left_to_the_full_registry_which_creates_it(tmp_path):
    home = tmp_path / "home"
    assert connect_listing(home=home) is None
    assert not (home / "charter.db").exists()  # looking did not create an empty file
    out, _, report = run(home, "fast", "ls", "--json")
    assert json.loads(out) == [] and report == {"exit": 0, "sqlalchemy": True}
    assert revision(home / "charter.db") == SCHEMA_REVISION


# One refused setting per policy parser: read-only `ls` parses a policy only when its
# settings are given (bootstrap.check_settings), so each must still stop it.
BAD_SETTINGS = {
    "mlflow": ('[mlflow]\ntracking_url = "http://mlflow:5000"\n', {}),
    "naming": ('[naming]\nmode = "sometimes"\n', {}),
    "naming env": ("", {"CHARTER_NAMING_MODE": "sometimes"}),
    "lifecycle": ('[lifecycle]\nextra_transitions = [["Nowhere", "Production"]]\n', {}),
    "access env": ("", {"CHARTER_AUTH_DEFAULT_ROLE": "emperor"}),
    "gates": ('[gates.Production]\nrequire_everything = true\n', {}),
    "evidence": ('[evidence]\nnames = 3\n', {}),
    "retention": ('[retention]\nkeep_forever = "always"\n', {}),
    "webhooks": ('[webhooks]\nretry = "often"\n', {}),
    "signing": ('[signing]\nunknown_signer = "shrug"\n', {}),
    "consumers": ('[consumers]\nstale_after = "soonish"\n', {}),
    "audit": ('[audit]\ncheckpoint_every = "now and then"\n', {}),
    "models": ('[models.fraud_detector.retention]\nkeep = "all of them"\n', {}),
    "auth": ('[auth]\ndenied_log_max_bytes = "big"\n', {}),
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_a_bad_configuration_stops_read_only_ls_with_the_full_registrys_error(
        home, monkeypatch, tmp_path, case):
    text, environment = BAD_SETTINGS[case]
    config = tmp_path / "charter.toml"
    config.write_text(text)
    monkeypatch.setenv("CHARTER_CONFIG", str(config))
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    fast, full = (invoke(home, monkeypatch, path, "ls") for path in ("fast", "full"))
    assert (fast.exit_code, fast.stdout, fast.stderr) == (
        full.exit_code, full.stdout, full.stderr)
    assert fast.exit_code == 3 and fast.stderr.startswith("error: ") and "hint: " in fast.stderr


def test_what_loads_libraries_to_check_goes_to_the_full_registry(home, tmp_path):
    key = tmp_path / "checkpoint.key"
    assert connect_listing(home=home, checkpoint_key=key) is None
    assert connect_listing(home=home, database_url="postgresql://u@127.0.0.1:1/x") is None
    assert connect_listing("http://127.0.0.1:1") is None


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:////tmp/h/charter.db", "/tmp/h/charter.db"), ("sqlite:///rel.db", "rel.db"),
    ("sqlite://", None), ("sqlite:///:memory:", None), ("sqlite:///x.db?mode=ro", None),
    ("sqlite+pysqlite:///x.db", None), ("sqlite:///a%20b.db", None),
    ("postgresql+psycopg://u@h/db", None),
])
def test_only_a_plain_sqlite_file_url_is_read_without_sqlalchemy(url, path):
    assert sqlite_path(url) == path


def test_the_listing_takes_the_parameters_of_the_registrys_list_models():
    def parameters(function):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(function).parameters.values()]

    assert parameters(ModelListing.list_models) == parameters(Registry.list_models)


@pytest.mark.postgres
def test_ls_on_postgresql_is_the_full_registrys(postgres_database_url, tmp_path):
    registry = connect(postgres_database_url, home=tmp_path / "home", actor="ci-bot")
    registry.register("pg_fraud_scorer", "runs:/r1/model")
    registry.register("pg_fraud_scorer", "runs:/r2/model")
    registry.set_alias("pg_fraud_scorer", "champion", 1)
    assert connect_listing(postgres_database_url, home=tmp_path / "home") is None
    done = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "--registry",
                                    postgres_database_url, "ls"], env=STABLE_ENV)
    assert (done.exit_code, done.stdout) == (
        0, "pg_fraud_scorer (2 versions)\n├─ v2: None\n└─ v1: None @champion\n")
