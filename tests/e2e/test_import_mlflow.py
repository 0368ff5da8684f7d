"""Adopt a badly named MLflow registry: plan, edit, apply (issue 8).

A real ``mlflow server`` (its own SQLite store) is started once for the module and
filled through ``MlflowClient`` with the seed's chaos: ``fraud_detector_v1``,
``fraud_detector_v2``, ``fraud_detector_final``, ``fraud_oct_2024`` and
``churn_lstm``, with two versions in Production across the fraud names.
``charter import mlflow`` runs as a real subprocess, first ``--plan``, then
``--apply``; the result is read back through the embedded registry, the CLI, and
the MLflow client pointed at a Charter server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

import charter
from charter.domain.consolidation import iso_time
from charter.server.run import free_port
from tests.e2e.server import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

MLFLOW = str(Path(sys.executable).parent / "mlflow")
# MLflow's client retries 5xx for minutes; a mistake must fail fast instead.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
STARTUP_S = 180
OLD_FRAUD_NAMES = ["fraud_detector_final", "fraud_detector_v1", "fraud_detector_v2",
                   "fraud_oct_2024"]


@dataclass(frozen=True)
class Chaos:
    url: str
    created: dict[tuple[str, int], int]  # (old name, old version) -> creation time, ms
    run_id: str


@pytest.fixture(scope="module")
def mlflow_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CLIENT_ENV.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory, mlflow_env: None) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, root / "server.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("mlflow server exited:\n" + log.read_text())
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"mlflow server did not answer /health in {STARTUP_S}s:\n"
                       + log.read_text())


@pytest.fixture(scope="module")
def chaos(mlflow_url: str) -> Chaos:
    """The seed's badly named registry, in MLflow."""
    client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    run_id = client.create_run(client.create_experiment("fraud")).info.run_id
    models = {
        "fraud_detector_v1": ({"team": "risk"}, "Scores card payments (first try)"),
        "fraud_detector_v2": ({"team": "risk-ml"}, "Scores card payments for fraud risk"),
        "fraud_detector_final": ({}, ""),
        "fraud_oct_2024": ({}, ""),
        "churn_lstm": ({"owner": "growth"}, "Predicts churn"),
    }
    for name, (tags, description) in models.items():
        client.create_registered_model(name, tags=tags, description=description)
    created = {}
    # Creation order differs from name order: fraud_detector_v1 got a retrain after v2 existed.
    for name, source, stage in [
        ("fraud_detector_v1", "s3://models-bucket/fraud/a", "Production"),
        ("fraud_detector_v2", "s3://models-bucket/fraud/b", "Production"),
        ("fraud_detector_v1", "s3://models-bucket/fraud/c", "Archived"),
        ("churn_lstm", "s3://models-bucket/churn/a", "Production"),
        ("fraud_detector_final", "s3://models-bucket/fraud/d", "Staging"),
        ("fraud_oct_2024", f"runs:/{run_id}/model", "None"),
    ]:
        version = client.create_model_version(
            name, source, run_id=run_id if source.startswith("runs:") else None,
            description=f"trained on {source.rsplit('/', 1)[-1]}")
        if stage != "None":
            client.transition_model_version_stage(name, version.version, stage)
        created[(name, int(version.version))] = version.creation_timestamp
        time.sleep(0.01)  # distinct creation times
    client.set_model_version_tag("fraud_detector_v2", "1", "auc", "0.91")
    client.set_registered_model_alias("fraud_detector_v2", "champion", "1")
    client.set_registered_model_alias("fraud_detector_final", "challenger", "1")
    return Chaos(mlflow_url, created, run_id)


def charter_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env.update({"CHARTER_HOME": str(home), "CHARTER_ACTOR": "migrator", "COLUMNS": "250",
                "NO_COLOR": "1", **CLIENT_ENV})
    return subprocess.run([sys.executable, "-m", "charter.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def plan_and_apply(chaos: Chaos, home: Path, edit=None):  # type: ignore[no-untyped-def]
    plan = home.parent / "plan.toml"
    planned = charter_cli(home, "import", "mlflow", "--from", chaos.url, "--plan", str(plan))
    assert planned.returncode == 0, planned.stderr
    if edit is not None:
        plan.write_text(edit(plan.read_text()))
    applied = charter_cli(home, "import", "mlflow", "--from", chaos.url, "--apply", str(plan))
    assert applied.returncode == 0, applied.stderr
    return planned, applied


@pytest.fixture(scope="module")
def imported(chaos: Chaos, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The chaos planned, the plan edited (churn gets a better name), and applied."""
    home = tmp_path_factory.mktemp("charter") / "home"
    planned, applied = plan_and_apply(
        chaos, home, edit=lambda text: text.replace('name = "churn"\n',
                                                    'name = "churn_predictor"\n'))
    registry = charter.connect(home, actor="reader")
    yield home, planned, applied, registry
    registry.db.dispose()


def test_the_plan_folds_the_fraud_names_into_one_product_ordered_by_creation(
        chaos, imported):
    home, planned, _, _ = imported
    text = (home.parent / "plan.toml").read_text()
    assert 'name = "fraud_detector"' in text
    assert 'conflict_rule = "newest_production_wins"' in text
    table = planned.stdout
    assert table.index("fraud_detector_v1 v1") < table.index("fraud_detector_v2 v1") \
        < table.index("fraud_detector_v1 v2") < table.index("fraud_detector_final v1") \
        < table.index("fraud_oct_2024 v1")
    assert "newest_production_wins: v2 (fraud_detector_v2 v1) keeps Production" in table
    assert "ends in a version marker 'v2'" in table  # every name was linted


def test_apply_imports_one_product_with_versions_in_creation_order(chaos, imported):
    _, _, applied, registry = imported
    model = registry.get_model("fraud_detector")
    assert model.redirects == OLD_FRAUD_NAMES
    versions = sorted(registry.list_versions("fraud_detector"), key=lambda v: v.version)
    assert [v.source for v in versions] == [
        "s3://models-bucket/fraud/a", "s3://models-bucket/fraud/b", "s3://models-bucket/fraud/c",
        "s3://models-bucket/fraud/d", f"runs:/{chaos.run_id}/model"]
    assert versions[4].run_id == chaos.run_id
    assert [v.description for v in versions[:2]] == ["trained on a", "trained on b"]
    # Creation times are MLflow's, not the import's.
    assert iso_time(chaos.created[("fraud_detector_v1", 2)]) == \
        versions[2].created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert "Imported fraud_detector: 5 versions" in applied.stdout


def test_two_production_versions_resolve_by_the_rule_to_exactly_one(imported):
    _, _, _, registry = imported
    model = registry.get_model("fraud_detector")
    assert model.stages == {"Production": [2], "Staging": [4], "None": [5],
                            "Archived": [1, 3]}


def test_tags_aliases_and_descriptions_are_carried(imported):
    _, _, _, registry = imported
    model = registry.get_model("fraud_detector")
    assert model.aliases == {"champion": 2, "challenger": 4}
    assert model.tags == {"team": "risk-ml"}  # the newest source's value
    assert model.description == "Scores card payments for fraud risk"
    assert registry.get_version("fraud_detector", 2).tags == {"auc": "0.91"}
    churn = registry.get_model("churn_predictor")  # renamed in the edited plan
    assert churn.tags == {"owner": "growth"} and churn.redirects == ["churn_lstm"]
    assert churn.stages == {"Production": [1]}
    assert registry.get_version("churn_predictor", 1).tags == {"algorithm": "lstm"}


def test_old_names_keep_resolving_with_a_deprecation_warning(imported):
    home, _, _, registry = imported
    resolution = registry.resolve("models:/fraud_detector_v2/Production")
    assert (resolution.version.name, resolution.version.version) == ("fraud_detector", 2)
    assert resolution.warnings and "models:/fraud_detector/Production" in resolution.warnings[0]
    shown = charter_cli(home, "resolve", "models:/fraud_detector_v2/Production")
    assert shown.returncode == 0, shown.stderr
    assert "fraud_detector" in shown.stdout and "fraud_detector_v2" in shown.stderr


def test_an_old_name_and_number_resolve_to_the_version_it_became(imported):
    _, _, _, registry = imported
    resolution = registry.resolve("models:/fraud_detector_v1/2")
    assert resolution.version.version == 3
    assert resolution.version.source == "s3://models-bucket/fraud/c"
    assert resolution.warnings == ["'fraud_detector_v1' is now 'fraud_detector'; update the "
                                   "URI to models:/fraud_detector/3"]  # merged, not "renamed"
    assert registry.get_version("fraud_detector_v2", 1).version == 2


def test_import_events_record_the_origin_in_the_history(chaos, imported):
    _, _, _, registry = imported
    events = registry.history("fraud_detector")
    imported_events = [e for e in events if e.action == "version_imported"]
    assert [e.version for e in imported_events] == [1, 2, 3, 4, 5]
    second = imported_events[1]
    assert second.reason == f"imported from MLflow {chaos.url}: fraud_detector_v2 v1"
    assert second.actor == "migrator" and second.to_stage == "Production"
    assert second.payload["origin"]["name"] == "fraud_detector_v2"
    assert second.payload["origin"]["version"] == 1
    assert second.payload["origin"]["created"] == iso_time(
        chaos.created[("fraud_detector_v2", 1)])
    first = imported_events[0]
    assert first.to_stage == "Archived" and first.payload["origin"]["stage"] == "Production"
    assert {e.action for e in events} >= {"model_created", "alias_set", "redirect_added"}
    assert registry.verify_audit().ok


def test_the_mlflow_client_resolves_an_old_stage_uri_through_charter(imported):
    home, _, _, _ = imported
    with running_server(home) as url:
        client = MlflowClient(registry_uri=url, tracking_uri=url)
        (latest,) = client.get_latest_versions("fraud_detector_v2", stages=["Production"])
        assert (latest.name, latest.version) == ("fraud_detector", "2")


def test_a_plan_that_no_longer_matches_the_registry_is_refused(chaos, tmp_path):
    client = MlflowClient(tracking_uri=chaos.url, registry_uri=chaos.url)
    client.create_registered_model("search_ranker_v1")
    client.create_model_version("search_ranker_v1", "s3://models-bucket/ranker/a")
    home, plan = tmp_path / "home", tmp_path / "plan.toml"
    assert charter_cli(home, "import", "mlflow", "--from", chaos.url, "--plan",
                       str(plan)).returncode == 0
    client.create_model_version("search_ranker_v1", "s3://models-bucket/ranker/b")
    applied = charter_cli(home, "import", "mlflow", "--from", chaos.url, "--apply", str(plan))
    assert applied.returncode == 3
    assert "[plan.stale]" in applied.stderr and "search_ranker_v1 v2" in applied.stderr
    registry = charter.connect(home)
    try:
        assert registry.list_models().items == []  # nothing was imported
    finally:
        registry.db.dispose()


def test_an_unreachable_mlflow_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = charter_cli(tmp_path / "home", "import", "mlflow", "--from", url, "--plan",
                         str(tmp_path / "plan.toml"))
    assert result.returncode != 0
    assert "[mlflow.unreachable]" in result.stderr and "Traceback" not in result.stderr
