"""The real MLflow client against a real Charter server (DESIGN §1, §6, §8).

MLflow tracks runs in a local SQLite store; its *registry* is Charter. The seed's
"Complete Example" ``ModelRegistry`` class is pasted below unchanged and run as the
seed runs it; then MLflow loads ``models:/fraud_detector/Production`` through
Charter and predicts. Contract refusals must reach the MLflow client as an
``MlflowException`` carrying our explanation.

One server (and one tracking store) serves the whole module; tests use their own
model names where they would otherwise interfere.
"""

# The seed's class is pasted verbatim, bare ``except:`` included.
# ruff: noqa: E722

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from tests.e2e.mlflow_env import mlflow_client_env
from tests.e2e.server import running_server

# MLflow deprecates stages; the seed (and Charter's contract) still use them.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

# MLflow's client retries 5xx for minutes; a mistake must fail fast instead.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}

FEATURES = np.array([[0.0, 0.1], [0.2, 0.0], [0.9, 1.0], [1.0, 0.8], [0.1, 0.3], [0.8, 0.9]])
LABELS = np.array([0, 0, 1, 1, 0, 1])


# --- the seed's Complete Example, unchanged ------------------------------------------------

class ModelRegistry:
    """Manage model registration and lifecycle"""
    
    def __init__(self):
        self.client = MlflowClient()
    
    def register_new_model(
        self,
        run_id: str,
        model_name: str,
        description: str,
        tags: dict = None
    ) -> int:
        """Register a new model version"""
        
        # Ensure model exists
        try:
            self.client.get_registered_model(model_name)
        except:
            self.client.create_registered_model(
                name=model_name,
                description=f"Production model for {model_name}"
            )
        
        # Create version
        mv = self.client.create_model_version(
            name=model_name,
            source=f"runs:/{run_id}/model",
            run_id=run_id,
            description=description
        )
        
        # Add tags
        if tags:
            for key, value in tags.items():
                self.client.set_model_version_tag(
                    model_name, mv.version, key, value
                )
        
        # Tag with registration time
        self.client.set_model_version_tag(
            model_name,
            mv.version,
            "registered_at",
            datetime.now().isoformat()
        )
        
        print(f"✓ Registered {model_name} v{mv.version}")
        return int(mv.version)
    
    def promote(
        self,
        model_name: str,
        version: int,
        to_stage: str,
        archive_existing: bool = False
    ):
        """Promote model to new stage"""
        
        # Validate stage
        valid_stages = ["Staging", "Production", "Archived"]
        if to_stage not in valid_stages:
            raise ValueError(f"Stage must be one of {valid_stages}")
        
        # Get current stage
        mv = self.client.get_model_version(model_name, version)
        from_stage = mv.current_stage
        
        # Transition
        self.client.transition_model_version_stage(
            name=model_name,
            version=version,
            stage=to_stage,
            archive_existing_versions=archive_existing
        )
        
        # Log transition
        self.client.set_model_version_tag(
            model_name,
            version,
            f"transitioned_to_{to_stage.lower()}_at",
            datetime.now().isoformat()
        )
        
        print(f"✓ {model_name} v{version}: {from_stage} → {to_stage}")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A Charter server as MLflow's registry, a SQLite tracking store, fast-failing client."""
    root = tmp_path_factory.mktemp("mlflow-e2e")
    home = root / "charter"
    home.mkdir()
    with mlflow_client_env(CLIENT_ENV), running_server(home) as url:
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns.db'}")
        mlflow.set_registry_uri(url)
        experiment = mlflow.create_experiment(
            "charter-e2e", artifact_location=(root / "artifacts").as_uri())
        yield {"url": url, "root": root, "experiment": experiment, "home": home}


def train_and_log(charter: dict[str, Any], name: str) -> str:
    """Train a tiny model and log it under the run's ``model/`` folder; the run id."""
    model = LogisticRegression().fit(FEATURES, LABELS)
    with mlflow.start_run(experiment_id=charter["experiment"]) as run:
        folder = Path(charter["root"]) / f"saved-{name}-{run.info.run_id}"
        mlflow.sklearn.save_model(model, str(folder))
        mlflow.log_artifacts(str(folder), "model")
    return run.info.run_id


@pytest.fixture(scope="module")
def seed_flow(charter: dict[str, Any]) -> dict[str, Any]:
    """The seed's usage example, run as written (with a real run id)."""
    run_id = train_and_log(charter, "fraud")

    # Usage Example (the seed's)
    registry = ModelRegistry()

    # After training
    version = registry.register_new_model(
        run_id=run_id,
        model_name="fraud_detector",
        description="Improved recall on account takeover fraud",
        tags={
            "team": "fraud",
            "owner": "@meera",
            "algorithm": "xgboost"
        }
    )

    # After offline validation
    registry.promote(
        model_name="fraud_detector",
        version=version,
        to_stage="Staging"
    )

    # After staging validation
    registry.promote(
        model_name="fraud_detector",
        version=version,
        to_stage="Production",
        archive_existing=True  # Archive old prod version
    )
    return {"run_id": run_id, "version": version, "registry": registry}


def refusal(call: Any, *args: Any, **kwargs: Any) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return caught.value


# --- the seed, end to end --------------------------------------------------------------------


def test_the_seed_example_registers_and_promotes(seed_flow):
    client = MlflowClient()
    assert seed_flow["version"] == 1
    model = client.get_registered_model("fraud_detector")
    assert model.description == "Production model for fraud_detector"
    version = client.get_model_version("fraud_detector", "1")
    assert version.current_stage == "Production"
    assert version.status == "READY"
    assert version.source == f"runs:/{seed_flow['run_id']}/model"
    assert version.run_id == seed_flow["run_id"]
    assert version.description == "Improved recall on account takeover fraud"
    assert {"team": "fraud", "owner": "@meera", "algorithm": "xgboost"}.items() <= \
        version.tags.items()
    for key in ("registered_at", "transitioned_to_staging_at",
                "transitioned_to_production_at"):
        datetime.fromisoformat(version.tags[key])
    assert [v.version for v in model.latest_versions] == ["1"]


def test_mlflow_loads_the_production_model_through_charter(seed_flow):
    expected = LogisticRegression().fit(FEATURES, LABELS).predict(FEATURES)
    for uri in ("models:/fraud_detector/Production", "models:/fraud_detector/1",
                "models:/fraud_detector/latest"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict(FEATURES)) == list(expected), uri


def test_a_new_version_replaces_production_with_archive_existing(charter, seed_flow):
    registry = seed_flow["registry"]
    run_id = train_and_log(charter, "fraud-v2")
    version = registry.register_new_model(run_id, "fraud_detector", "Retrained on Q4 data",
                                          tags={"team": "fraud"})
    assert version == 2
    registry.promote("fraud_detector", version, "Staging")
    client = MlflowClient()
    error = refusal(client.transition_model_version_stage, "fraud_detector", version,
                    "Production", archive_existing_versions=False)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "at most one Production version" in error.message
    registry.promote("fraud_detector", version, "Production", archive_existing=True)
    assert client.get_model_version("fraud_detector", "1").current_stage == "Archived"
    assert client.get_model_version("fraud_detector", "2").current_stage == "Production"
    [production] = client.get_latest_versions("fraud_detector", ["Production"])
    assert production.version == "2"
    assert client.get_latest_versions("fraud_detector", ["None"]) == []
    loaded = mlflow.pyfunc.load_model("models:/fraud_detector/Production")
    assert len(loaded.predict(FEATURES)) == len(FEATURES)


# --- contract refusals reach the MLflow client -------------------------------------------------


def test_a_versioned_name_is_refused_with_a_suggestion(charter):
    error = refusal(MlflowClient().create_registered_model, "fraud_detector_v2")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "version marker" in error.message
    assert "fraud_detector" in error.message.split("version marker", 1)[1]


def test_stage_rules_reach_the_client(charter):
    client = MlflowClient()
    client.create_registered_model("churn_predictor")
    run_id = train_and_log(charter, "churn")
    for _ in range(2):
        client.create_model_version("churn_predictor", f"runs:/{run_id}/model", run_id=run_id)
    error = refusal(client.transition_model_version_stage, "churn_predictor", "1",
                    "Production")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "cannot move from None to Production" in error.message
    assert "allowed moves are: Staging" in error.message

    client.transition_model_version_stage("churn_predictor", "1", "staging")  # any case
    client.transition_model_version_stage("churn_predictor", "1", "Production")
    client.transition_model_version_stage("churn_predictor", "2", "Staging")
    error = refusal(client.transition_model_version_stage, "churn_predictor", "2",
                    "Production", archive_existing_versions=False)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "already has v1 in Production" in error.message

    error = refusal(client.delete_model_version, "churn_predictor", "2")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "only Archived versions can be deleted" in error.message
    client.transition_model_version_stage("churn_predictor", "2", "Archived")
    client.delete_model_version("churn_predictor", "2")
    error = refusal(client.get_model_version, "churn_predictor", "2")
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_missing_things_are_resource_does_not_exist(charter):
    client = MlflowClient()
    error = refusal(client.get_registered_model, "demand_forecaster")
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "demand_forecaster" in error.message
    error = refusal(client.create_model_version, "demand_forecaster", "s3://bucket/model")
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"


# --- search, aliases, tags -------------------------------------------------------------------


def test_search_registered_models_pages_through(charter, seed_flow):
    client = MlflowClient()
    for name in ("fraud_rules", "fraud_scorer", "fraud_triage"):
        client.create_registered_model(name, tags={"team": "fraud"})
    everything = client.search_registered_models(filter_string="name LIKE 'fraud%'",
                                                 max_results=100)
    names = [m.name for m in everything]
    assert {"fraud_detector", "fraud_rules", "fraud_scorer", "fraud_triage"} <= set(names)
    assert not everything.token

    seen, token = [], None
    while True:
        page = client.search_registered_models(filter_string="name LIKE 'fraud%'",
                                               max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == names

    tagged = client.search_registered_models(filter_string="tags.team = 'fraud'")
    assert {m.name for m in tagged} == {"fraud_rules", "fraud_scorer", "fraud_triage"}
    [detector] = [m for m in everything if m.name == "fraud_detector"]
    assert detector.latest_versions  # latest_versions ride along in search results


def test_search_model_versions_pages_through(seed_flow):
    client = MlflowClient()
    everything = client.search_model_versions("name='fraud_detector'")
    assert {v.version for v in everything} >= {"1"}
    seen, token = [], None
    while True:
        page = client.search_model_versions("name='fraud_detector'", max_results=1,
                                            order_by=["version_number ASC"], page_token=token)
        seen += [v.version for v in page]
        token = page.token
        if not token:
            break
    assert seen == sorted({v.version for v in everything}, key=int)
    by_run = client.search_model_versions(f"run_id = '{seed_flow['run_id']}'")
    assert [(v.name, v.version) for v in by_run] == [("fraud_detector", "1")]
    error = refusal(client.search_model_versions, "name = 'a' OR name = 'b'")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "OR is not supported" in error.message


def test_aliases_through_the_client(seed_flow):
    client = MlflowClient()
    client.set_registered_model_alias("fraud_detector", "champion", 1)
    assert client.get_model_version_by_alias("fraud_detector", "champion").version == "1"
    assert client.get_registered_model("fraud_detector").aliases == {"champion": "1"}
    loaded = mlflow.pyfunc.load_model("models:/fraud_detector@champion")
    assert len(loaded.predict(FEATURES)) == len(FEATURES)
    client.delete_registered_model_alias("fraud_detector", "champion")
    error = refusal(client.get_model_version_by_alias, "fraud_detector", "champion")
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
    error = refusal(client.set_registered_model_alias, "fraud_detector", "production", 1)
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_tags_descriptions_and_rename_through_the_client(charter):
    client = MlflowClient()
    client.create_registered_model("search_ranker", description="ranks results")
    client.set_registered_model_tag("search_ranker", "team", "search")
    client.update_registered_model("search_ranker", description="ranks search results")
    model = client.get_registered_model("search_ranker")
    assert model.tags == {"team": "search"}
    assert model.description == "ranks search results"
    client.delete_registered_model_tag("search_ranker", "team")
    assert client.get_registered_model("search_ranker").tags == {}
    client.rename_registered_model("search_ranker", "search_relevance_scorer")
    assert client.get_registered_model("search_relevance_scorer").name == \
        "search_relevance_scorer"
    # the old name keeps resolving (a redirect), as deployments may still use it
    assert client.get_registered_model("search_ranker").name == "search_relevance_scorer"
    error = refusal(client.rename_registered_model, "search_relevance_scorer", "search_v2")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_registered_model("search_relevance_scorer")
    error = refusal(client.get_registered_model, "search_relevance_scorer")
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_name_whose_signer_is_pinned_refuses_an_unsigned_mlflow_version(charter, tmp_path):
    from charter.client import RemoteRegistry
    from tests.provenance_kit import make_key, model_folder, sign_with_key

    registry = RemoteRegistry(charter["url"], actor="release-bot")
    folder = model_folder(tmp_path / "model")
    key = make_key(tmp_path / "keys", "release")
    registry.register("signed_scoring", path=folder,
                      signature=sign_with_key(folder, key, tmp_path / "model.sig"),
                      signer_key=key.public_path)
    error = refusal(MlflowClient().create_model_version, "signed_scoring",
                    "s3://bucket/unsigned/model")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "only takes signed versions" in error.message and "--signature" in error.message
