"""Access control end to end: a real `charter serve` with authentication on.

The first admin and the other users are made with the CLI on the server's data
folder, as an operator would on the server's machine. Then the real MLflow client
authenticates as MLflow does (MLFLOW_TRACKING_TOKEN; MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD), the CLI with --registry URL and CHARTER_TOKEN, and
`charter serve --host 0.0.0.0` without authentication refuses to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.run import free_port
from tests.e2e.server import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

RUN = "0123456789abcdef0123456789abcdef"
CLI = [sys.executable, "-m", "charter.cli.main"]
MLFLOW_ENV = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1", **extra}


def charter(*args: str, home: Path | None = None, **env: str
            ) -> subprocess.CompletedProcess[str]:
    extra = {"CHARTER_HOME": str(home)} if home else {}
    return subprocess.run([*CLI, *args], env=cli_env(**extra, **env), capture_output=True,
                          text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("access-e2e")
    # On the server's machine, with the CLI: the first admin and its token.
    ok(charter("user", "create", "alice", "--admin", home=home))
    tokens = {"alice": ok(charter("token", "create", "--user", "alice", home=home)).strip()}
    # The others the same way, in process to save start-up time: a data scientist who
    # may create models, a release owner, and a CI account that reads everything.
    service = build_service(Settings.load({"home": home}, env={}), actor="operator")
    for user, kind in (("sam", {}), ("rel", {}), ("ci-bot", {"service_account": True})):
        service.create_user(user, **kind)
        tokens[user] = service.create_token(user).secret
    service.grant("*", "sam", "contributor")
    service.grant("*", "ci-bot", "reader")
    service.db.dispose()
    env = {"CHARTER_AUTH": "on", "CHARTER_AUTH_DEFAULT_ROLE": "none"}
    with running_server(home, extra_env=env) as url:
        yield {"url": url, "home": home, "tokens": tokens}


@pytest.fixture
def mlflow_as(monkeypatch: pytest.MonkeyPatch, server: dict[str, Any]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

    def make(**env: str) -> MlflowClient:
        for key in MLFLOW_ENV:
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return MlflowClient(tracking_uri=server["url"], registry_uri=server["url"])

    return make


def error_code(raised: pytest.ExceptionInfo[MlflowException]) -> str:
    error = raised.value
    return error.error_code if isinstance(error, RestException | MlflowException) else ""


def test_mlflow_with_a_bearer_token_creates_a_model_and_owns_it(server, mlflow_as):
    sam = mlflow_as(MLFLOW_TRACKING_TOKEN=server["tokens"]["sam"])
    sam.create_registered_model("fraud_detector", description="card fraud")
    version = sam.create_model_version("fraud_detector", f"runs:/{RUN}/model", run_id=RUN)
    sam.transition_model_version_stage("fraud_detector", version.version, "Staging")
    moved = sam.transition_model_version_stage("fraud_detector", version.version,
                                               "Production")  # the creator is its owner
    assert moved.current_stage == "Production"
    reader = mlflow_as(MLFLOW_TRACKING_TOKEN=server["tokens"]["ci-bot"])
    assert reader.get_latest_versions("fraud_detector", ["Production"])[0].version == "1"
    with pytest.raises(MlflowException) as raised:
        reader.create_model_version("fraud_detector", f"runs:/{RUN}/model", run_id=RUN)
    assert error_code(raised) == "PERMISSION_DENIED"


def test_mlflow_roles_decide_who_promotes_to_production(server, mlflow_as):
    home, tokens = server["home"], server["tokens"]
    alice = mlflow_as(MLFLOW_TRACKING_TOKEN=tokens["alice"])
    alice.create_registered_model("payments_risk_model")
    alice.create_model_version("payments_risk_model", f"runs:/{RUN}/model", run_id=RUN)
    ok(charter("grant", "payments_risk_model", "sam", "contributor", home=home))
    ok(charter("grant", "payments_risk_model", "rel", "maintainer", home=home))

    sam = mlflow_as(MLFLOW_TRACKING_TOKEN=tokens["sam"])
    sam.transition_model_version_stage("payments_risk_model", "1", "Staging")
    with pytest.raises(MlflowException) as raised:
        sam.transition_model_version_stage("payments_risk_model", "1", "Production")
    assert error_code(raised) == "PERMISSION_DENIED"
    assert "needs maintainer" in raised.value.message

    # the release owner, with MLflow's user name and password (a token)
    rel = mlflow_as(MLFLOW_TRACKING_USERNAME="rel", MLFLOW_TRACKING_PASSWORD=tokens["rel"])
    moved = rel.transition_model_version_stage("payments_risk_model", "1", "Production")
    assert moved.current_stage == "Production"
    history = httpx.get(f"{server['url']}/api/v1/models/payments_risk_model/history",
                        headers={"Authorization": f"Bearer {tokens['alice']}"}).json()
    moves = [(e["actor"], e["to_stage"]) for e in history["events"]
             if e["action"] == "stage_changed"]
    assert moves == [("sam", "Staging"), ("rel", "Production")]


def test_mlflow_without_or_with_bad_credentials_is_unauthenticated(server, mlflow_as):
    for env in ({}, {"MLFLOW_TRACKING_TOKEN": "charter_" + "x" * 43},
                {"MLFLOW_TRACKING_USERNAME": "sam",
                 "MLFLOW_TRACKING_PASSWORD": server["tokens"]["rel"]},
                {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "password1234"}):
        client = mlflow_as(**env)
        with pytest.raises(MlflowException) as raised:
            client.search_registered_models()
        assert error_code(raised) == "UNAUTHENTICATED", env


def test_the_cli_against_the_server_acts_with_its_token(server):
    url, tokens, home = server["url"], server["tokens"], server["home"]
    as_ci = {"CHARTER_TOKEN": tokens["ci-bot"]}
    ok(charter("--registry", url, "register", "churn_forecast", "s3://models/churn/1",
               CHARTER_TOKEN=tokens["alice"]))
    listed = ok(charter("--registry", url, "ls", **as_ci))
    assert "churn_forecast" in listed
    refused = charter("--registry", url, "promote", "churn_forecast", "1", "--to", "Staging",
                      "--reason", "try", **as_ci)
    assert refused.returncode == 6, refused.stderr
    assert "access.denied" in refused.stderr and "needs contributor" in refused.stderr
    anonymous = charter("--registry", url, "ls")
    assert anonymous.returncode == 6 and "auth.required" in anonymous.stderr
    # a user manages its own tokens over HTTP
    mine = ok(charter("--registry", url, "token", "create", "--expires", "1h", **as_ci)).strip()
    assert mine.startswith("charter_")
    assert "ci-bot" in ok(charter("--registry", url, "token", "list",
                                  CHARTER_TOKEN=mine))
    ids = [line.split()[0] for line in ok(charter("--registry", url, "token", "list", **as_ci)
                                          ).splitlines()[1:]]
    ok(charter("--registry", url, "token", "revoke", ids[-1], CHARTER_TOKEN=mine))
    gone = charter("--registry", url, "ls", CHARTER_TOKEN=mine)
    assert gone.returncode == 6 and "token.revoked" in gone.stderr
    # users are made on the server's machine, not through the server
    remote = charter("--registry", url, "user", "create", "eve", **as_ci)
    assert remote.returncode == 3 and "server's machine" in remote.stderr
    denied = (home / "logs" / "denied.log").read_text()
    assert "token.revoked" in denied and mine not in denied


def test_grants_over_http_are_for_owners_and_audited(server):
    url, tokens = server["url"], server["tokens"]
    ok(charter("--registry", url, "register", "search_ranker", "s3://models/ranker/1",
               CHARTER_TOKEN=tokens["sam"]))  # sam creates it, so sam owns it
    ok(charter("--registry", url, "grant", "search_ranker", "rel", "maintainer",
               "--reason", "release owner", CHARTER_TOKEN=tokens["sam"]))
    refused = charter("--registry", url, "grant", "search_ranker", "ci-bot", "owner",
                      CHARTER_TOKEN=tokens["rel"])
    assert refused.returncode == 6
    grants = ok(charter("--registry", url, "grants", "search_ranker", "--json",
                        CHARTER_TOKEN=tokens["rel"]))
    assert '"rel"' in grants and '"maintainer"' in grants
    history = ok(charter("--registry", url, "history", "search_ranker", "--json",
                         CHARTER_TOKEN=tokens["rel"]))
    assert '"access_granted"' in history and '"release owner"' in history


def test_a_symlink_leading_out_of_the_model_folder_is_refused(server, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"weights")
    (tmp_path / "secret.txt").write_text("not for the registry")
    (folder / "config.txt").symlink_to(tmp_path / "secret.txt")
    result = charter("--registry", server["url"], "register", "fraud_detector", str(folder),
                     CHARTER_TOKEN=server["tokens"]["sam"])
    assert result.returncode == 3, result.stderr
    assert "path.outside" in result.stderr


CLI_ROLES = {"rita": "reader", "cory": "contributor", "mia": "maintainer", "otto": "owner"}
CLI_MODELS = {"rita": "churn_forecast", "cory": "recommendation_ranking",
              "mia": "lending_credit_score", "otto": "fraud_detection_binary"}
# (what, the role it needs, the arguments after the model's name is filled in)
CLI_OPERATIONS = [
    ("show", "reader", ["show", "{m}", "--json"]),
    ("history", "reader", ["history", "{m}"]),
    ("tag", "contributor", ["tag", "{m}", "team=payments"]),
    ("None -> Staging", "contributor", ["promote", "{m}", "1", "--to", "Staging",
                                        "--reason", "validated"]),
    ("Staging -> Production", "maintainer", ["promote", "{m}", "2", "--to", "Production",
                                             "--reason", "better"]),
    ("alias", "maintainer", ["alias", "{m}", "champion", "2"]),
    ("delete a version", "owner", ["delete", "{m}", "3", "--reason", "unused"]),
    ("grant", "owner", ["grant", "{m}", "nina", "reader"]),
]
ORDER = ["reader", "contributor", "maintainer", "owner"]


def test_the_cli_against_a_server_follows_the_roles_table(server):
    from typer.testing import CliRunner

    from charter.cli.main import app

    service = build_service(Settings.load({"home": server["home"]}, env={}), actor="operator")
    tokens = {}
    for user in [*CLI_ROLES, "nina"]:
        service.create_user(user)
        tokens[user] = service.create_token(user).secret
    for user, role in CLI_ROLES.items():  # a model of its own per user: v1 None,
        model = CLI_MODELS[user]          # v2 Staging, v3 Archived
        for number in range(1, 4):
            service.register(model, f"s3://models/{model}/{number}")
        service.transition(model, 2, "Staging")
        service.transition(model, 3, "Staging")
        service.transition(model, 3, "Archived")
        service.grant(model, user, role)
    service.db.dispose()
    runner = CliRunner()

    def run(user: str, args: list[str], model: str) -> int:
        filled = [a.replace("{m}", model) for a in args]
        result = runner.invoke(app, ["--registry", server["url"], *filled],
                               env={"CHARTER_TOKEN": tokens[user], "COLUMNS": "200"})
        return result.exit_code

    for user, role in CLI_ROLES.items():
        for what, needs, args in CLI_OPERATIONS:
            allowed = ORDER.index(role) >= ORDER.index(needs)
            code = run(user, args, CLI_MODELS[user])
            assert code == (0 if allowed else 6), (user, what, code)
    for what, _, args in CLI_OPERATIONS:  # no role at all: the model does not exist
        assert run("nina", args, CLI_MODELS["rita"]) == 4, what


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_serve_on_every_interface_without_auth_refuses_to_start(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=cli_env(CHARTER_HOME=str(tmp_path)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline, listened = time.monotonic() + 30, False
    while process.poll() is None and time.monotonic() < deadline:
        listened = listened or _listening(port)
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        pytest.fail("charter serve --host 0.0.0.0 without auth kept running")
    _, stderr = process.communicate()
    assert process.returncode == 3, stderr
    assert not listened and not _listening(port)
    assert "auth.required_to_listen" in stderr
    assert "[auth] enabled = true" in stderr and "CHARTER_AUTH=on" in stderr
    assert "charter user create alice --admin" in stderr
    assert not (tmp_path / "charter.db").exists()  # it stopped before touching anything


def test_serve_on_every_interface_starts_once_auth_is_on(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", str(port), "--log-level", "warning"],
        env=cli_env(CHARTER_HOME=str(tmp_path), CHARTER_AUTH="on"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/models", timeout=5)
        assert answer.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)
