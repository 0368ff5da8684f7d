"""Registering by upload, and garbage collection, over a real database (SQLite and PostgreSQL).

The version appears only when the commit's manifest matches every stored file; an
interrupted or failed upload leaves no version, and ``collect_garbage`` removes what
it stored once the grace period has passed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from charter.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied

NAME = "fraud_detector"
FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": os.urandom(200_000),
    "data/nested/vocab.txt": b"alpha\nbeta\n",
}
LATER = timedelta(hours=25)  # past the default 24-hour grace period


def manifest(files: dict[str, bytes] = FILES) -> list[dict[str, object]]:
    return [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for p, d in files.items()]


def upload_all(registry, files: dict[str, bytes] = FILES, name: str = NAME) -> str:
    upload = registry.start_upload(name)
    for path, data in files.items():
        registry.upload_file(name, upload.id, path, [data[:1000], data[1000:]])
    return upload.id


def future() -> datetime:
    return datetime.now(UTC) + LATER


def test_a_committed_upload_is_a_ready_version_with_every_file(registry, tmp_path):
    upload_id = upload_all(registry)
    version = registry.commit_upload(NAME, upload_id, manifest(), run_id="abc123",
                                     source="runs:/abc123/model", tags={"team": "payments"},
                                     description="uploaded")
    assert (version.version, version.status, version.source) == (1, "READY",
                                                                 "runs:/abc123/model")
    assert {f.path: f.size for f in version.files} == {p: len(d) for p, d in FILES.items()}
    assert registry.history(NAME)[-1].payload["files"] == 3
    registry.download(f"models:/{NAME}/1", tmp_path / "pulled")
    assert (tmp_path / "pulled" / "data/nested/vocab.txt").read_bytes() == FILES[
        "data/nested/vocab.txt"]
    assert registry.get_upload(NAME, upload_id).version == 1


def test_an_upload_and_a_local_registration_of_the_same_files_agree(registry, tmp_path):
    for path, data in FILES.items():
        (tmp_path / "model" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "model" / path).write_bytes(data)
    local = registry.register(NAME, path=tmp_path / "model")
    uploaded = registry.commit_upload(NAME, upload_all(registry), manifest())
    assert (uploaded.digest, uploaded.files) == (local.digest, local.files)


def test_nothing_is_visible_before_the_commit(registry, given):
    before = given.state()
    upload_all(registry)
    assert given.state() == before


def test_an_interrupted_upload_leaves_no_version_and_gc_collects_its_blobs(registry, given):
    before = given.state()
    upload = registry.start_upload(NAME)
    registry.upload_file(NAME, upload.id, "model.pkl", [FILES["model.pkl"]])

    def broken_stream():
        yield b"the first megabytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        registry.upload_file(NAME, upload.id, "MLmodel", broken_stream())
    assert given.state() == before
    stored = [b.digest for b in registry.blobs.blobs()]
    assert stored == [hashlib.sha256(FILES["model.pkl"]).hexdigest()]

    assert registry.collect_garbage(apply=True).blobs == []  # still within the grace period
    report = registry.collect_garbage(apply=True, now=future())
    assert [b.digest for b in report.blobs] == stored and report.uploads == [upload.id]
    assert list(registry.blobs.blobs()) == []
    with pytest.raises(NotFound):
        registry.get_upload(NAME, upload.id)


def test_gc_is_a_dry_run_unless_applied(registry):
    upload_all(registry)
    report = registry.collect_garbage(now=future())
    assert not report.applied and len(report.blobs) == 3 and report.size > 200_000
    assert len(list(registry.blobs.blobs())) == 3


def test_gc_keeps_blobs_a_version_references_and_those_of_live_uploads(registry):
    registry.commit_upload(NAME, upload_all(registry), manifest())
    live = registry.start_upload(NAME)
    registry.upload_file(NAME, live.id, "new.bin", [b"in flight"])
    long_ago = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    for blob in registry.blobs.blobs():  # old bytes: only references can keep them
        os.utime(registry.blobs.path_of(blob.digest), (long_ago, long_ago))
    report = registry.collect_garbage(apply=True)
    assert report.blobs == [] and report.kept == 4
    assert registry.get_upload(NAME, live.id).files[0].path == "new.bin"


def test_gc_collects_the_blobs_of_a_deleted_version(registry, given):
    registry.commit_upload(NAME, upload_all(registry), manifest())
    given.moved(NAME, 1, "Archived")
    registry.delete_version(NAME, 1, reason="trained on leaked labels")
    report = registry.collect_garbage(apply=True, now=future())
    assert len(report.blobs) == 3 and list(registry.blobs.blobs()) == []


def test_a_second_write_of_a_path_is_refused_with_409(registry):
    upload = registry.start_upload(NAME)
    registry.upload_file(NAME, upload.id, "model.pkl", [b"first"])
    with pytest.raises(Conflict) as refused:
        registry.upload_file(NAME, upload.id, "model.pkl", [b"second"])
    assert refused.value.code == "upload.file_exists"


def test_a_committed_upload_is_immutable(registry):
    upload_id = upload_all(registry)
    registry.commit_upload(NAME, upload_id, manifest())
    for attempt in (lambda: registry.upload_file(NAME, upload_id, "extra.bin", [b"x"]),
                    lambda: registry.commit_upload(NAME, upload_id, manifest()),
                    lambda: registry.abort_upload(NAME, upload_id)):
        with pytest.raises(Conflict) as refused:
            attempt()
        assert refused.value.code == "upload.committed"
    assert [v.version for v in registry.list_versions(NAME)] == [1]


@pytest.mark.parametrize("change", ["missing", "extra", "size", "digest"])
def test_a_manifest_that_does_not_match_the_stored_files_is_refused(registry, given, change):
    claimed = manifest()
    if change == "missing":
        claimed.append({"path": "never.bin", "size": 1, "sha256": "0" * 64})
    elif change == "extra":
        claimed.pop()
    elif change == "size":
        claimed[0]["size"] = 1
    else:
        claimed[0]["sha256"] = hashlib.sha256(b"other bytes").hexdigest()
    upload_id = upload_all(registry)
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.commit_upload(NAME, upload_id, claimed)
    assert refused.value.code == "upload.mismatch"
    assert given.state() == before
    assert registry.commit_upload(NAME, upload_id, manifest()).version == 1  # still committable


def test_an_expected_digest_that_does_not_match_is_refused_and_stores_nothing(registry):
    upload = registry.start_upload(NAME)
    with pytest.raises(InvalidInput) as refused:
        registry.upload_file(NAME, upload.id, "model.pkl", [b"tampered"],
                             expected_sha256=hashlib.sha256(b"original").hexdigest())
    assert refused.value.code == "upload.digest_mismatch"
    assert list(registry.blobs.blobs()) == []
    assert registry.get_upload(NAME, upload.id).files == []


@pytest.mark.parametrize("path", ["../escape.pkl", "/etc/passwd", "data\\x", "a/./b", "%2e"])
def test_hostile_upload_paths_are_refused_before_any_byte_is_stored(registry, path):
    upload = registry.start_upload(NAME)
    with pytest.raises(InvalidInput) as refused:
        registry.upload_file(NAME, upload.id, path, [b"x"])
    assert refused.value.code == "path.refused"
    assert list(registry.blobs.blobs()) == []


def test_a_bad_name_is_refused_when_the_upload_starts(registry, given):
    before = given.state()
    with pytest.raises(InvalidInput) as refused:
        registry.start_upload("fraud_detector_v2")
    assert refused.value.code == "name.invalid"
    assert given.state() == before and registry.blobs.list_staged("uploads") == []


def test_an_upload_belongs_to_its_model_and_its_actor(registry):
    upload = registry.start_upload(NAME)
    for other in (registry.as_actor("mallory"), registry):
        name = NAME if other is not registry else "payments_risk_model"
        with pytest.raises(NotFound) as refused:
            other.upload_file(name, upload.id, "model.pkl", [b"x"])
        assert refused.value.code == "upload.not_found"
    assert registry.get_upload(NAME.upper(), upload.id).id == upload.id  # names ignore case


def test_an_aborted_upload_is_gone_and_its_blobs_are_collected(registry, given):
    before = given.state()
    upload_id = upload_all(registry)
    registry.abort_upload(NAME, upload_id)
    with pytest.raises(NotFound):
        registry.get_upload(NAME, upload_id)
    assert given.state() == before
    assert len(registry.collect_garbage(apply=True, now=future()).blobs) == 3


def test_upload_to_an_existing_model_without_create_model(registry, given):
    with pytest.raises(NotFound):
        registry.start_upload("no_such_model", create_model=False)
    given.versions(NAME)
    upload = registry.start_upload(NAME, create_model=False)
    registry.upload_file(NAME, upload.id, "model.pkl", [b"x"])
    version = registry.commit_upload(NAME, upload.id, manifest({"model.pkl": b"x"}))
    assert version.version == 2


def test_a_commit_whose_blobs_were_collected_is_refused(registry):
    upload_id = upload_all(registry)
    for blob in list(registry.blobs.blobs()):
        registry.blobs.delete(blob.digest)
    with pytest.raises(Conflict) as refused:
        registry.commit_upload(NAME, upload_id, manifest())
    assert refused.value.code == "upload.expired"


def test_a_reader_cannot_start_an_upload_whatever_surface_calls_the_service(registry, given):
    given.versions(NAME)
    registry.create_user("bob")
    registry.grant(NAME, "bob", "reader")
    bob = registry.as_principal(registry.authenticate(registry.create_token("bob").secret))
    before = given.state()
    for name, create_model in ((NAME, True), (NAME, False), ("churn_forecast", True)):
        with pytest.raises(PermissionDenied):
            bob.start_upload(name, create_model=create_model)
    assert given.state() == before and registry.blobs.list_staged("uploads") == []
    registry.grant(NAME, "bob", "maintainer")  # may register: the same call now opens one
    bob = registry.as_principal(registry.authenticate(registry.create_token("bob").secret))
    assert bob.start_upload(NAME, create_model=False).model == NAME
