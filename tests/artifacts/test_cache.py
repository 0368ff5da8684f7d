"""The pull cache: fetch once, verify, resume a broken fetch, never publish bad bytes."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from charter.artifacts.cache import BlobCache, default_cache_dir
from charter.domain.errors import IntegrityFailure

DATA = os.urandom(3 * 1024 * 1024 + 17)
DIGEST = hashlib.sha256(DATA).hexdigest()


class Source:
    """A fake server: records the offsets asked for; can ignore ranges or break midway."""

    def __init__(self, data: bytes = DATA, *, ranges: bool = True, break_at: int = -1):
        self.data, self.ranges, self.break_at = data, ranges, break_at
        self.offsets: list[int] = []

    def __call__(self, offset: int):
        self.offsets.append(offset)
        start = offset if self.ranges else 0

        def chunks():
            for at in range(start, len(self.data), 1024 * 1024):
                if 0 <= self.break_at <= at:
                    raise ConnectionResetError("link dropped")
                yield self.data[at:at + 1024 * 1024]

        return start, chunks()


def partial_of(cache: BlobCache):
    path = cache.path_of(DIGEST)
    return path.with_name(path.name + ".partial")


def test_a_blob_is_fetched_once_verified_and_read_only(tmp_path):
    cache, source = BlobCache(tmp_path), Source()
    seen: list[int] = []
    path = cache.fill(DIGEST, len(DATA), source, seen.append)
    assert path.read_bytes() == DATA and sum(seen) == len(DATA)
    assert path.stat().st_mode & 0o222 == 0
    assert cache.fill(DIGEST, len(DATA), source) == path
    assert source.offsets == [0]  # the second time came from the cache


def test_a_broken_fetch_resumes_from_its_last_byte(tmp_path):
    cache = BlobCache(tmp_path)
    with pytest.raises(ConnectionResetError):
        cache.fill(DIGEST, len(DATA), Source(break_at=2 * 1024 * 1024))
    assert partial_of(cache).stat().st_size == 2 * 1024 * 1024
    resumed = Source()
    assert cache.fill(DIGEST, len(DATA), resumed).read_bytes() == DATA
    assert resumed.offsets == [2 * 1024 * 1024] and not partial_of(cache).exists()


def test_a_source_that_ignores_ranges_starts_over(tmp_path):
    cache = BlobCache(tmp_path)
    partial_of(cache).parent.mkdir(parents=True)
    partial_of(cache).write_bytes(DATA[:1000])
    assert cache.fill(DIGEST, len(DATA), Source(ranges=False)).read_bytes() == DATA


def test_wrong_bytes_are_never_published_and_not_resumed_from(tmp_path):
    cache = BlobCache(tmp_path)
    with pytest.raises(IntegrityFailure):
        cache.fill(DIGEST, len(DATA), Source(b"x" * len(DATA)))
    assert not cache.path_of(DIGEST).exists()
    assert partial_of(cache).stat().st_size == 0
    with pytest.raises(IntegrityFailure):
        cache.fill(DIGEST, len(DATA), Source(DATA + b"trailing"))
    assert cache.fill(DIGEST, len(DATA), Source()).read_bytes() == DATA


def test_a_whole_partial_is_verified_without_fetching(tmp_path):
    cache = BlobCache(tmp_path)
    partial_of(cache).parent.mkdir(parents=True)
    partial_of(cache).write_bytes(DATA)
    source = Source()
    assert cache.fill(DIGEST, len(DATA), source).read_bytes() == DATA
    assert source.offsets == []


def test_a_delivered_file_is_a_copy_the_cache_cannot_be_altered_through(tmp_path):
    cache, source = BlobCache(tmp_path / "cache"), Source()
    first, second = tmp_path / "first.pkl", tmp_path / "second.pkl"
    cache.deliver(DIGEST, len(DATA), source, first)
    assert first.read_bytes() == DATA and not os.path.samefile(first, cache.path_of(DIGEST))
    first.write_bytes(b"tampered")  # what the user does to a pulled file stays there
    cache.deliver(DIGEST, len(DATA), source, second)
    assert second.read_bytes() == DATA and source.offsets == [0]
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0  # nobody else may write it


def test_a_cached_blob_altered_on_disk_is_caught_dropped_and_fetched_again(tmp_path):
    cache, source = BlobCache(tmp_path / "cache"), Source()
    cached = cache.fill(DIGEST, len(DATA), source)
    os.chmod(cached, 0o644)
    cached.write_bytes(b"X" * len(DATA))  # same size: only a hash can tell
    with pytest.raises(IntegrityFailure):
        cache.copy_out(DIGEST, len(DATA), tmp_path / "refused.pkl")
    assert not (tmp_path / "refused.pkl").exists()
    cache.deliver(DIGEST, len(DATA), source, tmp_path / "model.pkl")
    assert (tmp_path / "model.pkl").read_bytes() == DATA
    assert cached.read_bytes() == DATA and source.offsets == [0, 0]


def test_two_pulls_of_one_blob_take_turns(tmp_path):
    cache = BlobCache(tmp_path)
    sources = [Source(), Source()]
    threads = [threading.Thread(target=cache.fill, args=(DIGEST, len(DATA), s)) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.path_of(DIGEST).read_bytes() == DATA
    assert sum(len(s.offsets) for s in sources) == 1
    assert not partial_of(cache).exists()


def test_the_default_location_follows_the_environment(tmp_path):
    assert default_cache_dir({"CHARTER_CACHE_DIR": "/c"}) == tmp_path.__class__("/c")
    assert default_cache_dir({"CHARTER_HOME": "/h"}).as_posix() == "/h/cache"
    assert default_cache_dir({"XDG_DATA_HOME": "/x"}).as_posix() == "/x/charter/cache"
