"""The interface through the real MLflow client: a signature declared with the
``mlflow.signature`` tag (at create or later), MLflow 3's ``model_id`` kept and answered,
and a breaking promotion refused with the diff as MLflow's error message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from tests.e2e.mlflow_env import mlflow_client_env
from tests.e2e.server import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
NAME = "fraud_detector"
FRAME = pd.DataFrame({"amount": [0.0, 0.2, 0.9, 1.0, 0.1, 0.8],
                      "velocity": [0.1, 0.0, 1.0, 0.8, 0.3, 0.9]})
LABELS = [0, 0, 1, 1, 0, 1]


@pytest.fixture(scope="module")
def charter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("mlflow-interface")
    home = root / "charter"
    home.mkdir()
    with mlflow_client_env(CLIENT_ENV), running_server(home) as url:
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns.db'}")
        mlflow.set_registry_uri(url)
        experiment = mlflow.create_experiment(
            "interface", artifact_location=(root / "artifacts").as_uri())
        yield {"url": url, "experiment": experiment}


def logged(charter: dict[str, Any], columns: list[str]) -> tuple[str, Any]:
    """Train on ``columns``, log with its inferred signature; (run id, ModelInfo)."""
    frame = FRAME[columns]
    model = LogisticRegression().fit(frame, LABELS)
    with mlflow.start_run(experiment_id=charter["experiment"]) as run:
        info = mlflow.sklearn.log_model(model, name="model",
                                        signature=infer_signature(frame, model.predict(frame)))
    return run.info.run_id, info


def create(client: MlflowClient, run_id: str, info: Any, *, tag_signature: bool) -> str:
    tags = {"mlflow.signature": json.dumps(info.signature.to_dict())} if tag_signature else {}
    version = client.create_model_version(NAME, f"runs:/{run_id}/model", run_id=run_id,
                                          tags=tags, model_id=info.model_id)
    return version.version


def interface_of(charter: dict[str, Any], version: str) -> dict[str, Any]:
    answer = httpx.get(f"{charter['url']}/api/v1/models/{NAME}/versions/{version}/interface")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_signature_tag_model_id_and_a_refused_breaking_promotion(charter):
    client = MlflowClient()
    client.create_registered_model(NAME)
    run_id, info = logged(charter, ["amount", "velocity"])
    first = create(client, run_id, info, tag_signature=True)
    # MLflow's client sends model_id but does not read it back yet (ModelVersion.from_proto
    # leaves it out); the MLflow shape carries it for any caller that reads the JSON.
    shape = httpx.get(f"{charter['url']}/api/2.0/mlflow/model-versions/get",
                      params={"name": NAME, "version": first}).json()["model_version"]
    assert info.model_id.startswith("m-") and shape["model_id"] == info.model_id
    declared = interface_of(charter, first)
    assert declared["origin"] == "tag"
    assert [s["name"] for s in declared["interface"]["inputs"]] == ["amount", "velocity"]
    client.transition_model_version_stage(NAME, first, "Staging")
    client.transition_model_version_stage(NAME, first, "Production")

    # v2 drops "velocity": declared after creation, as a client that tags later would
    run_id, info = logged(charter, ["amount"])
    second = create(client, run_id, info, tag_signature=False)
    assert interface_of(charter, second)["interface"] is None
    client.set_model_version_tag(NAME, second, "mlflow.signature",
                                 json.dumps(info.signature.to_dict()))
    assert interface_of(charter, second)["origin"] == "tag"
    client.transition_model_version_stage(NAME, second, "Staging")
    with pytest.raises(MlflowException) as refused:
        client.transition_model_version_stage(NAME, second, "Production",
                                              archive_existing_versions=True)
    assert "breaks v1's interface: input velocity removed" in refused.value.message
    assert client.get_model_version(NAME, first).current_stage == "Production"

    # the same signature again is no change; another one is refused (set once)
    client.set_model_version_tag(NAME, second, "mlflow.signature",
                                 json.dumps(info.signature.to_dict()))
    with pytest.raises(MlflowException) as twice:
        client.set_model_version_tag(NAME, first, "mlflow.signature",
                                     json.dumps(info.signature.to_dict()))
    assert "already declares another interface" in twice.value.message
