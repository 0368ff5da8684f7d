"""Where an admin named an MLflow tracking server in Charter's settings, a version
registered from a ``runs:/`` or ``models:/m-…`` source without a declared interface gets
the signature of the MLmodel that server holds — read from that server only, never from
an address a client sends. A real ``mlflow server`` and a real ``charter serve``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from charter.server.run import free_port
from tests.e2e.mlflow_env import mlflow_client_env
from tests.e2e.server import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
FRAME = pd.DataFrame({"amount": [0.0, 0.2, 0.9, 1.0], "velocity": [0.1, 0.0, 1.0, 0.8]})
LABELS = [0, 0, 1, 1]


def mlflow_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(root / "mlflow.log", "wb")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "mlflow-artifacts")],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((root / "mlflow.log").read_text())
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError("mlflow server did not start:\n" + (root / "mlflow.log").read_text())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("tracking")
    process, tracking = mlflow_server(root)
    home = root / "charter"
    home.mkdir()
    (home / "charter.toml").write_text(f'[mlflow]\ntracking_uri = "{tracking}"\n')
    try:
        with mlflow_client_env(CLIENT_ENV), running_server(home) as url:
            mlflow.set_tracking_uri(tracking)
            mlflow.set_registry_uri(url)
            yield {"charter": url, "tracking": tracking}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def interface_of(url: str, name: str, version: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/models/{name}/versions/{version}/interface")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_configured_tracking_server_supplies_the_signature(servers):
    model = LogisticRegression().fit(FRAME, LABELS)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model",
                                        signature=infer_signature(FRAME, model.predict(FRAME)))
    client = MlflowClient()
    client.create_registered_model("churn_predictor")
    # a models:/m-… source, and the model_id MLflow 3 sends with it
    by_model = client.create_model_version("churn_predictor", f"models:/{info.model_id}",
                                           run_id=run.info.run_id, model_id=info.model_id)
    declared = interface_of(servers["charter"], "churn_predictor", by_model.version)
    assert declared["origin"] == "tracking"
    assert [s["name"] for s in declared["interface"]["inputs"]] == ["amount", "velocity"]

    # an unknown logged model: the server has nothing, the version declares nothing
    other = client.create_model_version("churn_predictor", "models:/m-0123456789abcdef",
                                        run_id=run.info.run_id)
    assert interface_of(servers["charter"], "churn_predictor", other.version)["interface"] \
        is None
