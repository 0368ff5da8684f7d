"""Consumers against a real ``charter serve``: reports through the real MLflow client (its
request header provider), the remote SDK and the CLI; convergence after a rollback with
one consumer lagging; the refusal to archive a served version, over the wire."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from charter.client.remote import RemoteRegistry
from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e

PROD = "models:/fraud_detector/Production"
CLI = [sys.executable, "-m", "charter.cli.main"]

# The MLflow client as a deployment runs it: models:/ resolved by MLflow itself. Charter's
# header provider is registered as the package's entry point; a checkout whose installed
# metadata predates it registers the same class by hand.
MLFLOW_SCRIPT = textwrap.dedent("""
    import sys
    import mlflow
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
    from mlflow.tracking import MlflowClient
    from mlflow.tracking.request_header.registry import _request_header_provider_registry
    from charter.client.mlflow_headers import ConsumerHeaderProvider

    if not any(isinstance(p, ConsumerHeaderProvider) for p in _request_header_provider_registry):
        _request_header_provider_registry.register(ConsumerHeaderProvider)
    mlflow.set_registry_uri(sys.argv[1])
    print(ModelsArtifactRepository.get_underlying_uri("models:/fraud_detector/Production"))
    print(MlflowClient().get_model_version_by_alias("fraud_detector", "champion").version)
""")


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "server"
    home.mkdir()
    with running_server(home, workers=2) as url:
        yield url


@pytest.fixture
def remote(server, tmp_path):
    """fraud_detector v1 (with a file) in Production as champion, v2 in Staging."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"weights")
    with RemoteRegistry(server, actor="e2e", cache_dir=tmp_path / "cache") as registry:
        registry.register("fraud_detector", path=folder)
        registry.register("fraud_detector", path=folder)
        for version, stage in ((1, "Staging"), (1, "Production"), (2, "Staging")):
            registry.transition("fraud_detector", version, stage, reason="setup")
        registry.set_alias("fraud_detector", "champion", 1)
        yield registry


def run_mlflow(url: str, consumer: str | None, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHARTER_CONSUMER"}
    env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10",
               MLFLOW_TRACKING_URI=f"sqlite:///{cwd / 'mlruns.db'}")  # not in the checkout
    if consumer is not None:
        env["CHARTER_CONSUMER"] = consumer
    run = subprocess.run([sys.executable, "-c", MLFLOW_SCRIPT, url], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--registry", url, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


def served(registry: RemoteRegistry) -> set[tuple[str, str, int]]:
    view = registry.consumers("fraud_detector")
    return {(c.consumer, c.uri, c.version) for c in view.consumers}


def test_the_real_mlflow_client_reports_through_its_header_provider(server, remote, tmp_path):
    answer = run_mlflow(server, "checkout-api/eu", tmp_path)
    assert answer[0].endswith("/models/fraud_detector/versions/1") and answer[1] == "1"
    run_mlflow(server, None, tmp_path)  # without CHARTER_CONSUMER nothing is sent, nothing recorded
    # get-latest-versions then get-download-uri of v1: one consumer of the stage, not two
    assert served(remote) == {("checkout-api/eu", PROD, 1),
                              ("checkout-api/eu", "models:/fraud_detector@champion", 1)}


def test_sdk_and_cli_reports_and_convergence_after_a_rollback_with_one_lagging(
        server, remote, tmp_path):
    remote.resolve(PROD, consumer="checkout-api/eu")
    pulled = cli(server, "pull", PROD, str(tmp_path / "dest"), "--consumer", "checkout-api/us")
    assert pulled.returncode == 0, pulled.stderr
    remote.transition("fraud_detector", 2, "Production", archive_existing=True, reason="v2")
    assert remote.resolve(PROD, consumer="checkout-api/eu").version.version == 2

    shown = cli(server, "consumers", "fraud_detector")
    assert shown.returncode == 0, shown.stderr
    assert "1 of 2 switched; lagging: checkout-api/us" in shown.stdout
    (stage,) = remote.consumers("fraud_detector").stages
    assert (stage.version, stage.current, stage.lagging) == (
        2, ("checkout-api/eu",), ("checkout-api/us",))

    after = remote.events(limit=1000)[-1].seq
    remote.rollback("fraud_detector", reason="v2 misbehaves")   # us never switched: it lags
    reported = cli(server, "consumers", "report", "checkout-api/eu", PROD, "--json")
    assert reported.returncode == 0, reported.stderr
    assert json.loads(reported.stdout)["status"] == "current"
    converged = [e for e in remote.events(after=after) if e.action == "consumers_converged"]
    assert [(e.version, e.payload["consumers"]) for e in converged] == [
        (1, ["checkout-api/eu", "checkout-api/us"])]
    listed = json.loads(cli(server, "consumers", "fraud_detector", "--json").stdout)
    assert listed["stages"][0]["converged"] is True


def test_archiving_a_served_version_is_refused_over_the_wire_and_forced_by_an_owner(
        server, remote):
    remote.report_consumer("shadow/eu", "models:/fraud_detector/2")
    with pytest.raises(Conflict) as refused:
        remote.archive("fraud_detector", 2, reason="rejected")
    assert refused.value.code == codes.VERSION_SERVED
    assert refused.value.details["consumers"] == ["shadow/eu"]
    by_cli = cli(server, "archive", "fraud_detector", "2", "--reason", "rejected")
    assert by_cli.returncode != 0 and "shadow/eu" in by_cli.stderr
    forced = cli(server, "archive", "fraud_detector", "2", "--reason", "rejected", "--force")
    assert forced.returncode == 0, forced.stderr
    assert remote.get_version("fraud_detector", 2).stage == "Archived"


def test_a_bad_consumer_name_is_refused_by_the_server(server, remote):
    with pytest.raises(InvalidInput) as refused:
        remote.resolve(PROD, consumer="Checkout API")
    assert refused.value.code == codes.CONSUMER_INVALID
