"""Model files end to end: a real `charter serve`, the SDK, the CLI and the real MLflow client.

Register a folder remotely (SDK and CLI), pull it twice (the second time from the
cache, without touching the network), resume a broken pull, survive an
interrupted upload, load a model uploaded with `charter register` through
`mlflow.pyfunc.load_model`, and do it all once more with blobs in S3 (moto).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from charter.client import RemoteRegistry
from charter.client.transfer import Transfers
from charter.domain.errors import IntegrityFailure, NotFound
from tests.e2e.server import running_server
from tests.s3 import S3_ENV, all_keys, moto_s3, new_bucket, s3_client

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::FutureWarning")]

FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": os.urandom(1_500_000),
    "data/conf.json": b'{"threshold": 0.7}',
    "data/nested/deeper/vocab.txt": b"alpha\nbeta\n",
}


def write_folder(root: Path, files: dict[str, bytes] = FILES) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def remote(server, tmp_path):
    with RemoteRegistry(server, actor="ci-bot", cache_dir=tmp_path / "cache") as registry:
        yield registry


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env.update(CHARTER_HOME=str(home), CHARTER_ACTOR="ci-bot", COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "charter.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


# ---- SDK --------------------------------------------------------------------------------

def test_sdk_registers_a_nested_folder_and_pulls_it_back(remote, tmp_path):
    advanced: list[int] = []
    version = remote.register("support_ticket_routing", path=write_folder(tmp_path / "model"),
                              description="uploaded", tags={"team": "support"},
                              progress=advanced.append)
    assert (version.status, version.description, version.tags) == ("READY", "uploaded",
                                                                    {"team": "support"})
    assert {f.path: f.sha256 for f in version.files} == {p: sha(d) for p, d in FILES.items()}
    assert sum(advanced) == sum(len(d) for d in FILES.values())
    where = remote.download("models:/support_ticket_routing/latest", tmp_path / "pulled")
    assert tree(where) == FILES


def test_a_second_pull_comes_from_the_cache_without_the_network(remote, tmp_path,
                                                                monkeypatch):
    remote.register("churn_prediction", path=write_folder(tmp_path / "model"))
    remote.download("models:/churn_prediction/1", tmp_path / "first")

    def offline(*_args, **_kwargs):
        raise AssertionError("the second pull must not fetch anything")

    monkeypatch.setattr(Transfers, "get_file", offline)
    seen: list[int] = []
    remote.download("models:/churn_prediction/1", tmp_path / "second", progress=seen.append)
    assert tree(tmp_path / "second") == FILES
    assert sum(seen) == sum(len(d) for d in FILES.values())
    cached = remote.cache.path_of(sha(FILES["model.pkl"]))
    assert not os.path.samefile(cached, tmp_path / "second" / "model.pkl")  # a copy
    assert cached.stat().st_mode & 0o222 == 0  # cache entries are read-only


def test_a_broken_pull_resumes_from_its_partial(remote, tmp_path, monkeypatch):
    remote.register("lending_credit_score", path=write_folder(tmp_path / "model"))
    data = FILES["model.pkl"]
    partial = remote.cache.path_of(sha(data))
    partial = partial.with_name(partial.name + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:600_000])  # what a pull broken by a dropped link left behind
    offsets: list[int] = []
    fetch = Transfers.get_file

    def recording(self, path, offset=0):
        offsets.append(offset)
        return fetch(self, path, offset)

    monkeypatch.setattr(Transfers, "get_file", recording)
    remote.download("models:/lending_credit_score/1", tmp_path / "pulled")
    assert tree(tmp_path / "pulled") == FILES
    assert 600_000 in offsets and not partial.exists()


def test_a_corrupt_partial_fails_the_digest_check_then_the_next_pull_starts_over(remote,
                                                                               tmp_path):
    remote.register("fraud_detection_binary", path=write_folder(tmp_path / "model"))
    data = FILES["model.pkl"]
    partial = remote.cache.path_of(sha(data))
    partial = partial.with_name(partial.name + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 600_000)
    with pytest.raises(IntegrityFailure):
        remote.download("models:/fraud_detection_binary/1", tmp_path / "bad")
    assert not (tmp_path / "bad" / "model.pkl").exists()
    remote.download("models:/fraud_detection_binary/1", tmp_path / "good")
    assert tree(tmp_path / "good") == FILES


def test_an_interrupted_upload_leaves_no_version(remote, tmp_path, monkeypatch):
    sent: list[str] = []
    put = Transfers.put_file

    def dropping(self, path, local, **options):
        if sent:
            raise ConnectionResetError("link dropped")
        sent.append(path)
        return put(self, path, local, **options)

    monkeypatch.setattr(Transfers, "put_file", dropping)
    with pytest.raises(ConnectionResetError):
        remote.register("recommendation_ranking", path=write_folder(tmp_path / "model"))
    with pytest.raises(NotFound):
        remote.get_model("recommendation_ranking")
    upload_id = sent[0].split("/uploads/")[1].split("/")[0]
    with pytest.raises(NotFound):  # the client aborted the session on its way out
        remote._call("GET", f"/models/recommendation_ranking/uploads/{upload_id}")


def test_symlinks_leaving_the_model_folder_are_refused_before_upload(remote, tmp_path):
    folder = write_folder(tmp_path / "model")
    (tmp_path / "secret").write_text("aws_secret_access_key=…")
    (folder / "data" / "creds").symlink_to(tmp_path / "secret")
    with pytest.raises(Exception) as refused:
        remote.register("payments_risk_model", path=folder)
    assert getattr(refused.value, "code", "") == "path.outside"
    with pytest.raises(NotFound):
        remote.get_model("payments_risk_model")


# ---- CLI --------------------------------------------------------------------------------

def test_cli_registers_against_the_server_and_pulls_twice(server, tmp_path):
    home = tmp_path / "client"
    folder = write_folder(tmp_path / "model")
    registered = cli(home, "--registry", server, "register", "price_elasticity", str(folder))
    assert registered.returncode == 0, registered.stderr
    assert "Registered price_elasticity v1" in registered.stdout
    for stage in ("Staging", "Production"):
        moved = cli(home, "--registry", server, "promote", "price_elasticity", "1", "--to",
                    stage, "--reason", "e2e")
        assert moved.returncode == 0, moved.stderr
    for attempt in ("first", "second"):
        pulled = cli(home, "--registry", server, "pull",
                     "models:/price_elasticity/Production", str(tmp_path / attempt))
        assert pulled.returncode == 0, pulled.stderr
        assert "4 files" in pulled.stdout and "sha256 verified" in pulled.stdout
        assert tree(tmp_path / attempt) == FILES
    assert (home / "cache" / "sha256").is_dir()


def test_a_pulled_file_altered_in_place_never_reaches_the_next_pull(server, tmp_path):
    """Defect: pulled files were hard links into the cache, and a hit was not re-hashed."""
    home = tmp_path / "client"
    cli(home, "--registry", server, "register", "card_fraud_scoring",
        str(write_folder(tmp_path / "model")))
    first = cli(home, "--registry", server, "pull", "models:/card_fraud_scoring/1",
                str(tmp_path / "d1"))
    assert first.returncode == 0, first.stderr
    with open(tmp_path / "d1" / "model.pkl", "r+b") as pulled:  # in place, as root may
        pulled.write(b"tampered")
    second = cli(home, "--registry", server, "pull", "models:/card_fraud_scoring/1",
                 str(tmp_path / "d2"))
    assert second.returncode == 0 and "sha256 verified" in second.stdout, second.stderr
    assert tree(tmp_path / "d2") == FILES
    cached = home / "cache" / "sha256" / sha(FILES["model.pkl"])[:2] / sha(FILES["model.pkl"])[2:]
    os.chmod(cached, 0o644)
    with open(cached, "r+b") as entry:  # now the cache itself, same size: only a hash tells
        entry.write(b"tampered")
    third = cli(home, "--registry", server, "pull", "models:/card_fraud_scoring/1",
                str(tmp_path / "d3"))
    assert third.returncode == 0, third.stderr
    assert tree(tmp_path / "d3") == FILES and cached.read_bytes() == FILES["model.pkl"]


def test_a_pull_refused_partway_leaves_the_destination_as_it_was(server, tmp_path):
    """Defect: files sorting before a refused one were already written."""
    home = tmp_path / "client"
    cli(home, "--registry", server, "register", "churn_forecast",
        str(write_folder(tmp_path / "model")))
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "data").symlink_to(elsewhere)  # MLmodel sorts before data/…: it came first
    refused = cli(home, "--registry", server, "pull", "models:/churn_forecast/1", str(dest))
    assert refused.returncode == 3 and "path.outside" in refused.stderr, refused.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["data"]
    assert list(elsewhere.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no stage


def test_a_pull_broken_partway_leaves_nothing_and_the_next_one_lands_whole(remote, tmp_path,
                                                                         monkeypatch):
    remote.register("ad_click_ranking", path=write_folder(tmp_path / "model"))
    fetch, calls = Transfers.get_file, []

    def breaking(self, path, offset=0):
        calls.append(path)
        if len(calls) == 3:
            raise ConnectionResetError("link dropped")
        return fetch(self, path, offset)

    monkeypatch.setattr(Transfers, "get_file", breaking)
    with pytest.raises(ConnectionResetError):
        remote.download("models:/ad_click_ranking/1", tmp_path / "pulled")
    assert not (tmp_path / "pulled").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    remote.download("models:/ad_click_ranking/1", tmp_path / "pulled")
    assert tree(tmp_path / "pulled") == FILES


def test_cli_gc_refuses_to_run_through_a_server(server, tmp_path):
    answer = cli(tmp_path, "--registry", server, "gc")
    assert answer.returncode == 3 and "cli.remote_unsupported" in answer.stderr


# ---- the MLflow client --------------------------------------------------------------------

def test_mlflow_loads_a_model_uploaded_with_charter_register(server, tmp_path, monkeypatch):
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 0.1], [0.2, 0.0], [0.9, 1.0], [1.0, 0.8]])
    labels = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(features, labels)
    mlflow.sklearn.save_model(model, str(tmp_path / "sk_model"))
    home = tmp_path / "client"
    registered = cli(home, "--registry", server, "register", "fraud_detector",
                     str(tmp_path / "sk_model"))
    assert registered.returncode == 0, registered.stderr
    cli(home, "--registry", server, "promote", "fraud_detector", "1", "--to", "Staging",
        "--reason", "e2e")

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    mlflow.set_registry_uri(server)
    try:
        for uri in ("models:/fraud_detector/1", "models:/fraud_detector/Staging"):
            loaded = mlflow.pyfunc.load_model(uri)
            assert list(loaded.predict(features)) == list(model.predict(features))
    finally:
        mlflow.set_registry_uri("")
        mlflow.set_tracking_uri("")


# ---- S3 ---------------------------------------------------------------------------------

def test_upload_and_pull_with_blobs_in_s3(tmp_path):
    with moto_s3() as endpoint:
        client = s3_client(endpoint)
        bucket = new_bucket(client)
        env = {**S3_ENV, "CHARTER_ARTIFACTS_BACKEND": "s3", "CHARTER_S3_BUCKET": bucket,
               "CHARTER_S3_PREFIX": "prod/charter", "CHARTER_S3_ENDPOINT_URL": endpoint}
        big = {**FILES, "weights.bin": os.urandom(9 * 1024 * 1024)}  # more than one part
        (tmp_path / "server").mkdir()
        with running_server(tmp_path / "server", extra_env=env) as url, \
                RemoteRegistry(url, cache_dir=tmp_path / "cache") as remote:
            version = remote.register("fraud_detector", path=write_folder(tmp_path / "m", big))
            remote.download("models:/fraud_detector/1", tmp_path / "pulled")
            assert tree(tmp_path / "pulled") == big
            keys = all_keys(client, bucket)
            assert {f"prod/charter/sha256/{f.sha256[:2]}/{f.sha256[2:]}"
                    for f in version.files} <= set(keys)
            assert all(key.startswith("prod/charter/") for key in keys)
        server_env = {**os.environ, **env, "CHARTER_HOME": str(tmp_path / "server")}
        gc = subprocess.run([sys.executable, "-m", "charter.cli.main", "gc", "--apply",
                             "--older-than", "0"], env=server_env, capture_output=True,
                            text=True, timeout=120)
        assert gc.returncode == 0, gc.stderr
        assert "Deleted 0 unreferenced blobs" in gc.stdout
