"""The blob-store contract, run against both stores: a local folder and S3 (moto's server).

Content addressing, integrity on the way in and out, ranges, immutability, the
staging area, partial writes, and confinement of every key to the store's root.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from tests.s3 import all_keys, moto_s3, new_bucket, s3_client

from charter.artifacts import local as local_store
from charter.artifacts.local import LocalBlobStore
from charter.artifacts.s3 import S3BlobStore
from charter.domain.errors import IntegrityFailure, InvalidInput, NotFound

PREFIX = "teams/risk/charter"
PART = 5 * 1024 * 1024  # S3's smallest part: a few MB exercise the multipart path


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    client = s3_client(request.getfixturevalue("s3_endpoint"))
    return S3BlobStore(new_bucket(client), PREFIX, client=client, part_size=PART)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(store, digest: str, start: int = 0, stop: int | None = None) -> bytes:
    return b"".join(store.iter_chunks(digest, start, stop))


def test_a_stream_is_stored_under_its_sha256_and_read_back(store):
    data = os.urandom(300_000)
    digest, size = store.put_stream(io.BytesIO(data))
    assert (digest, size) == (sha(data), len(data))
    assert store.exists(digest) and store.size_of(digest) == len(data)
    assert read_all(store, digest) == data


def test_ranges_read_exactly_the_asked_bytes(store):
    data = bytes(range(256)) * 100
    digest, _ = store.put_stream(io.BytesIO(data))
    assert read_all(store, digest, 10, 20) == data[10:20]
    assert read_all(store, digest, 25_000) == data[25_000:]
    assert read_all(store, digest, 5, 5) == b""


def test_identical_content_is_stored_once(store):
    first = store.put_stream(io.BytesIO(b"same bytes"))
    second = store.put_stream(io.BytesIO(b"same bytes"))
    assert first == second
    assert [info.digest for info in store.blobs()] == [first[0]]


def test_a_blob_larger_than_a_part_goes_up_in_parts_and_comes_back_whole(store):
    data = os.urandom(2 * PART + 1234)
    writer = store.writer(sha(data))
    for start in range(0, len(data), 1024 * 1024):
        writer.write(data[start:start + 1024 * 1024])
    assert writer.commit() == (sha(data), len(data))
    assert sha(read_all(store, sha(data))) == sha(data)


def test_an_expected_digest_that_does_not_match_stores_nothing(store):
    writer = store.writer(sha(b"what the client claimed"))
    writer.write(os.urandom(PART + 10))
    with pytest.raises(IntegrityFailure) as refused:
        writer.commit()
    assert refused.value.code == "artifact.digest_mismatch"
    assert list(store.blobs()) == []
    assert store.collect_partials() == 0  # the aborted write left nothing behind


def test_an_aborted_write_leaves_nothing(store):
    writer = store.writer()
    writer.write(os.urandom(PART + 10))
    writer.abort()
    assert list(store.blobs()) == []
    assert store.collect_partials() == 0


def test_copy_out_verifies_the_digest_and_publishes_only_good_bytes(store, tmp_path):
    data = os.urandom(50_000)
    digest, _ = store.put_stream(io.BytesIO(data))
    store.copy_to(digest, tmp_path / "out" / "model.pkl")
    assert (tmp_path / "out" / "model.pkl").read_bytes() == data
    _tamper(store, digest, b"backdoored weights")
    with pytest.raises(IntegrityFailure):
        store.copy_to(digest, tmp_path / "bad" / "model.pkl")
    assert not (tmp_path / "bad" / "model.pkl").exists()
    assert [p.name for p in (tmp_path / "bad").iterdir()] == []


def test_a_file_stored_and_copied_out_reports_every_byte_it_moved(store, tmp_path):
    data = os.urandom(PART + 300_000)  # S3: more than one part
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    stored: list[int] = []
    digest, size = store.put_file(source, stored.append)
    assert (digest, size) == (sha(data), len(data)) and sum(stored) == len(data)
    copied: list[int] = []
    store.copy_to(digest, tmp_path / "out" / "weights.bin", copied.append)
    assert sum(copied) == len(data)
    assert (tmp_path / "out" / "weights.bin").read_bytes() == data
    assert list(store.digests()) == [digest]


class BrokenStream(io.RawIOBase):
    """A stream whose disk fails after ``good`` bytes."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._left:
            raise OSError(errno.EIO, "the disk failed mid-read")
        count = min(len(buffer), self._left)
        buffer[:count] = os.urandom(count)
        self._left -= count
        return count


def test_a_stream_that_fails_midway_stores_nothing(store):
    with pytest.raises(OSError, match="mid-read"):
        store.put_stream(io.BufferedReader(BrokenStream(PART + 10)))
    assert list(store.blobs()) == []
    assert store.collect_partials() == 0  # the writer was aborted: nothing to collect


def _tamper(store, digest: str, data: bytes) -> None:
    if isinstance(store, LocalBlobStore):
        path = store.path_of(digest)
        os.chmod(path, 0o644)
        path.write_bytes(data)
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.key(
            f"sha256/{digest[:2]}/{digest[2:]}"), Body=data)


def test_missing_blobs_are_not_found(store):
    missing = sha(b"never stored")
    assert not store.exists(missing) and store.blob_info(missing) is None
    with pytest.raises(NotFound):
        store.size_of(missing)
    with pytest.raises(NotFound):
        read_all(store, missing)


def test_names_that_are_not_digests_never_reach_the_store(store):
    for name in ("../../etc/passwd", "A" * 64, "ab/../cd", ""):
        with pytest.raises(NotFound):
            store.exists(name)


def test_deleted_blobs_are_gone(store):
    digest, _ = store.put_stream(io.BytesIO(b"temporary"))
    store.delete(digest)
    assert not store.exists(digest) and list(store.blobs()) == []


def test_blob_listing_reports_size_and_time(store):
    before = datetime.now(UTC) - timedelta(minutes=5)
    digest, size = store.put_stream(io.BytesIO(b"x" * 123))
    (info,) = store.blobs()
    assert (info.digest, info.size) == (digest, size) and info.modified > before
    assert store.blob_info(digest) == info


def test_the_staging_area_keeps_small_records(store):
    assert store.put_staged("uploads/abc/session.json", b'{"a": 1}')
    assert store.get_staged("uploads/abc/session.json") == b'{"a": 1}'
    assert not store.put_staged("uploads/abc/session.json", b"{}", exclusive=True)
    assert store.put_staged("uploads/abc/files/f1.json", b"1", exclusive=True)
    assert store.put_staged("uploads/abd/session.json", b"2")
    keys = [info.key for info in store.list_staged("uploads/abc")]
    assert keys == ["uploads/abc/files/f1.json", "uploads/abc/session.json"]
    store.delete_staged("uploads/abc")
    assert store.list_staged("uploads/abc") == []
    assert store.get_staged("uploads/abc/session.json") is None
    assert store.get_staged("uploads/abd/session.json") == b"2"


@pytest.mark.parametrize("key", ["../escape", "uploads/../../x", "/abs", "Uploads/X", "a//b",
                                 "a/b\\c", ""])
def test_staging_keys_are_checked(store, key):
    with pytest.raises(ValueError):
        store.put_staged(key, b"x")


def test_collect_partials_removes_only_writes_older_than_the_cutoff(store):
    writer = store.writer()
    writer.write(os.urandom(PART + 10))  # S3: a multipart upload is open
    if isinstance(store, LocalBlobStore):
        assert store.collect_partials(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert store.collect_partials(datetime.now(UTC) + timedelta(hours=1)) == 1
    assert list(store.blobs()) == []


# ---- local only -------------------------------------------------------------------------

def test_local_blobs_are_read_only_and_a_second_write_only_refreshes_the_time(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    digest, _ = store.put_stream(io.BytesIO(b"weights"))
    path = store.path_of(digest)
    assert path.stat().st_mode & 0o777 == 0o444
    os.utime(path, (0, 0))
    store.put_stream(io.BytesIO(b"weights"))
    assert path.stat().st_mtime > 0 and path.read_bytes() == b"weights"


@pytest.mark.parametrize("threshold", [1, 1 << 40], ids=["in a helper thread", "inline"])
def test_the_temporary_file_of_bytes_already_stored_is_removed(tmp_path, monkeypatch,
                                                               threshold):
    monkeypatch.setattr(local_store, "DISCARD_IN_BACKGROUND", threshold)
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(200_000)
    digest, _ = store.put_stream(io.BytesIO(data))
    again = store.writer()
    again.write(data)
    assert again.commit() == (digest, len(data))
    deadline = time.monotonic() + 10
    while list((tmp_path / "blobs" / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    assert read_all(store, digest) == data


# ---- S3 only ----------------------------------------------------------------------------

def test_every_s3_key_stays_under_the_prefix(s3_endpoint):
    client = s3_client(s3_endpoint)
    bucket = new_bucket(client)
    client.put_object(Bucket=bucket, Key="outside/keep.txt", Body=b"not ours")
    store = S3BlobStore(bucket, PREFIX, client=client, part_size=PART)
    digest, _ = store.put_stream(io.BytesIO(os.urandom(PART + 1)))  # no digest up front
    store.put_staged("uploads/abc/session.json", b"{}")
    keys = set(all_keys(client, bucket)) - {"outside/keep.txt"}
    assert keys == {f"{PREFIX}/sha256/{digest[:2]}/{digest[2:]}",
                    f"{PREFIX}/staging/uploads/abc/session.json"}
    assert [info.digest for info in store.blobs()] == [digest]


@pytest.mark.parametrize("prefix", ["../other", "a/../../b", "a//b", "a\\b", "a%2fb"])
def test_an_s3_prefix_that_could_escape_is_refused(s3_endpoint, prefix):
    with pytest.raises(InvalidInput):
        S3BlobStore("charter-models", prefix, client=s3_client(s3_endpoint))


@pytest.mark.parametrize("bucket", ["", "UPPER", "a", "bucket/with/slash", "x" * 70])
def test_an_invalid_bucket_name_is_refused(bucket):
    with pytest.raises(InvalidInput):
        S3BlobStore(bucket, client=object())
