"""Versions registered from files: content-addressed, verified on the way out (DESIGN §7, §9)."""

from __future__ import annotations

import hashlib
import os

import pytest

from charter.artifacts.local import manifest_digest
from charter.domain.errors import IntegrityFailure, InvalidInput, NotFound

NAME = "fraud_detector"

FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": os.urandom(300_000),
    "data/scaler.json": b'{"mean": 0.1}',
    "data/nested/deeper/vocab.txt": b"alpha\nbeta\n",
}


@pytest.fixture
def model_dir(tmp_path):
    root = tmp_path / "trained" / "model"
    for relative, content in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root


def test_register_from_a_folder_stores_every_file_with_size_and_sha256(registry, model_dir):
    version = registry.register(NAME, path=model_dir)

    expected = sorted((path, len(data), hashlib.sha256(data).hexdigest())
                      for path, data in FILES.items())
    assert [(f.path, f.size, f.sha256) for f in version.files] == expected
    assert version.digest == manifest_digest([(p, s) for p, _, s in expected])
    assert (version.source, version.status) == ("", "READY")
    stored = registry.get_version(NAME, 1)
    assert stored.files == version.files and stored.digest == version.digest
    resolution = registry.resolve(f"models:/{NAME}/1")
    assert resolution.digest == version.digest
    assert registry.history(NAME)[-1].payload["digest"] == version.digest


def test_register_from_a_single_file(registry, model_dir):
    version = registry.register(NAME, path=model_dir / "model.pkl")
    assert [f.path for f in version.files] == ["model.pkl"]


def test_download_gives_back_identical_bytes(registry, model_dir, tmp_path):
    registry.register(NAME, path=model_dir)
    registry.transition(NAME, 1, "Staging")
    dest = tmp_path / "pulled"

    registry.download(f"models:/{NAME}/Staging", dest)

    pulled = {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert pulled == FILES


def test_same_content_twice_is_stored_once_and_keeps_one_digest(registry, model_dir):
    first = registry.register(NAME, path=model_dir)
    second = registry.register(NAME, path=model_dir)
    assert (first.version, second.version) == (1, 2)
    assert first.digest == second.digest
    assert len(list(registry.blobs.digests())) == len(FILES)


def test_tampered_blob_makes_download_fail_with_digest_mismatch(registry, model_dir,
                                                                tmp_path):
    version = registry.register(NAME, path=model_dir)
    victim = next(f for f in version.files if f.path == "model.pkl")
    blob = registry.blobs.path_of(victim.sha256)
    os.chmod(blob, 0o644)  # published blobs are read-only; an attacker chmods first
    blob.write_bytes(b"backdoored weights")
    dest = tmp_path / "pulled"

    with pytest.raises(IntegrityFailure) as err:
        registry.download(f"models:/{NAME}/1", dest)

    assert err.value.code == "artifact.digest_mismatch"
    assert not (dest / "model.pkl").exists()  # the bad bytes were never published
    assert not [p for p in dest.rglob(".charter-*")]  # nor left behind as a temp file


def test_a_download_failing_partway_leaves_nothing_behind(registry, model_dir, tmp_path):
    version = registry.register(NAME, path=model_dir)
    victim = next(f for f in version.files if f.path == "model.pkl")  # after MLmodel, data/…
    os.chmod(registry.blobs.path_of(victim.sha256), 0o644)
    registry.blobs.path_of(victim.sha256).write_bytes(b"backdoored weights")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityFailure):
        registry.download(f"models:/{NAME}/1", out / "pulled")
    assert list(out.iterdir()) == []  # no DEST with the files before model.pkl, no stage


def test_a_download_refused_by_a_symlinked_folder_writes_nothing(registry, model_dir,
                                                                  tmp_path):
    registry.register(NAME, path=model_dir)
    dest, elsewhere = tmp_path / "pulled", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "data").symlink_to(elsewhere)
    with pytest.raises(InvalidInput) as refused:
        registry.download(f"models:/{NAME}/1", dest)
    assert refused.value.code == "path.outside"
    assert [p.name for p in dest.iterdir()] == ["data"] and list(elsewhere.iterdir()) == []


def test_a_download_into_a_folder_keeps_its_other_files(registry, model_dir, tmp_path):
    registry.register(NAME, path=model_dir)
    dest = tmp_path / "pulled"
    (dest / "data").mkdir(parents=True)
    (dest / "README").write_text("mine")
    (dest / "model.pkl").write_bytes(b"an older model")
    registry.download(f"models:/{NAME}/1", dest)
    pulled = {p.relative_to(dest).as_posix(): p.read_bytes()
              for p in dest.rglob("*") if p.is_file()}
    assert pulled == {**FILES, "README": b"mine"}


def test_missing_blob_is_a_clear_error(registry, model_dir, tmp_path):
    version = registry.register(NAME, path=model_dir)
    registry.blobs.delete(version.files[0].sha256)
    with pytest.raises(NotFound) as err:
        registry.download(f"models:/{NAME}/1", tmp_path / "pulled")
    assert err.value.code == "blob.not_found"


def test_symlink_pointing_outside_the_folder_is_refused(registry, given, model_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("aws_secret_access_key=…")
    (model_dir / "data" / "innocent.txt").symlink_to(secret)
    before = given.state()

    with pytest.raises(InvalidInput) as err:
        registry.register(NAME, path=model_dir)

    assert err.value.code == "path.outside"
    assert given.state() == before


def test_symlink_inside_the_folder_is_stored_as_its_target_content(registry, model_dir):
    (model_dir / "alias.pkl").symlink_to(model_dir / "model.pkl")
    version = registry.register(NAME, path=model_dir)
    by_path = {f.path: f.sha256 for f in version.files}
    assert by_path["alias.pkl"] == by_path["model.pkl"]


def test_missing_or_empty_folder_is_refused(registry, given, tmp_path):
    (tmp_path / "empty").mkdir()
    before = given.state()
    for path, code in ((tmp_path / "nope", "path.not_found"),
                       (tmp_path / "empty", "path.empty")):
        with pytest.raises(InvalidInput) as err:
            registry.register(NAME, path=path)
        assert err.value.code == code
    assert given.state() == before


def test_version_with_only_a_source_has_nothing_to_download(registry, given, tmp_path):
    given.versions(NAME)
    with pytest.raises(InvalidInput) as err:
        registry.download(f"models:/{NAME}/1", tmp_path / "pulled")
    assert err.value.code == "version.no_files"


def test_file_path_longer_than_its_column_is_refused_cleanly_or_stored(registry, tmp_path):
    # version_files.path is String(1024); a deeper relative path must be refused with a
    # clear error (or stored), never crash with a raw database error on PostgreSQL.
    root = tmp_path / "deep"
    folder = root
    for level in range(5):
        folder = folder / (f"{level}" + "d" * 240)
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w")
    try:
        version = registry.register(NAME, path=root)
    except InvalidInput:
        return
    assert len(version.files[0].path) > 1024
    assert registry.get_version(NAME, 1).files == version.files
