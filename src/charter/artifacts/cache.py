"""The pull cache: blobs fetched from a registry, kept locally by digest.

``<cache>/sha256/ab/cdef…`` holds a blob whose sha256 was verified when it was
fetched; ``…cdef.partial`` is a fetch in progress or one that broke, resumed
from its last byte by the next pull. The folder is its owner's alone (0700) and
entries are read-only. A pull never hands out a cached file itself: it copies the
bytes out and hashes them on the way (``deliver``), so a destination file edited
later cannot alter the cache, and a cache entry altered on disk is caught, dropped
and fetched again. docs/artifacts.md has the measurements behind this choice.

Concurrent pulls of the same blob (two processes) take turns on an advisory
lock on the ``.partial`` file; the second finds the blob published and uses it.
The default location is ``$CHARTER_CACHE_DIR``, else ``$CHARTER_HOME/cache``, else
the default data folder's ``cache``; it is safe to delete at any time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from charter.artifacts.common import Hasher, blob_name, digest_mismatch, room_for
from charter.domain.errors import IntegrityFailure
from charter.fileio import Progress
from charter.fileio.disk import reserve
from charter.fileio.hashing import HashBehind
from charter.fileio.writer import BackgroundWriter

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: pulls of one blob are not serialised
    fcntl = None  # type: ignore[assignment]

COPY_CHUNK = 1024 * 1024  # copying out of the cache: reads the hash keeps up with

# fetch(offset) -> (the offset the bytes really start at, the bytes from there to the end).
# A source that cannot resume answers offset 0 and the whole blob.
Fetch = Callable[[int], tuple[int, Iterable[bytes | memoryview]]]


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("CHARTER_CACHE_DIR"):
        return Path(env["CHARTER_CACHE_DIR"])
    if env.get("CHARTER_HOME"):
        return Path(env["CHARTER_HOME"]) / "cache"
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "charter" / "cache"


class BlobCache:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"BlobCache({str(self.root)!r})"

    def path_of(self, digest: str) -> Path:
        return self.root / blob_name(digest)

    def has(self, digest: str, size: int) -> bool:
        try:
            return self.path_of(digest).stat().st_size == size
        except FileNotFoundError:
            return False

    def fill(self, digest: str, size: int, fetch: Fetch,
             progress: Progress | None = None) -> Path:
        """The cached blob, fetched (or resumed) and verified first if it is not here yet."""
        final = self.path_of(digest)
        if self.has(digest, size):
            if progress:
                progress(size)
            return final
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # the caller's alone
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(final.name + ".partial")
        with room_for(f"the pulled bytes in the cache at {self.root}"), \
                open(partial, "ab+") as out, _locked(out):
            if self.has(digest, size):  # another process finished it while we waited
                _drop_if_orphan(partial, out)
                if progress:
                    progress(size)
                return final
            self._fetch_into(out, digest, size, fetch, progress, partial)
            os.chmod(partial, 0o444)
            os.replace(partial, final)
        return final

    def _fetch_into(self, out: object, digest: str, size: int, fetch: Fetch,
                    progress: Progress | None, partial: Path) -> None:
        assert hasattr(out, "fileno")
        fd = out.fileno()  # opened for appending: every write lands at the end
        have = os.fstat(fd).st_size
        if have > size:
            os.ftruncate(fd, 0)
            have = 0
        hasher = _hash_prefix(fd, have)
        # A partial that is already whole (a pull stopped before publishing) needs no bytes.
        start, chunks = (have, iter(())) if have == size else fetch(have)
        if start != have:  # the source restarted from 0
            os.ftruncate(fd, 0)
            hasher = Hasher()
        if progress and start:
            progress(start)
        splice = getattr(chunks, "splice_into", None)
        if splice is None or not _spliced(splice, partial, fd, start, size, hasher, progress):
            _written(chunks, fd, size, hasher, progress)
        if hasher.size != size or hasher.hexdigest() != digest:
            os.ftruncate(fd, 0)  # never resume from bytes that proved wrong
            raise digest_mismatch(digest, hasher.hexdigest(), f"the fetched blob ({hasher.size}"
                                  f" of {size} bytes)")

    def deliver(self, digest: str, size: int, fetch: Fetch, dest: Path,
                progress: Progress | None = None) -> None:
        """Write the blob's bytes to ``dest``, proved: fetched into the cache if need be,
        then copied out and hashed on the way. A cached copy that no longer matches its
        digest (altered on disk) is dropped and fetched once more."""
        self.fill(digest, size, fetch, progress)
        try:
            self.copy_out(digest, size, dest)
        except IntegrityFailure:
            self.evict(digest)
            self.fill(digest, size, fetch)
            self.copy_out(digest, size, dest)

    def copy_out(self, digest: str, size: int, dest: Path) -> None:
        """Copy the cached blob to a new file ``dest``, hashing every byte as it is copied;
        refused (and ``dest`` removed) unless they are the blob's ``size`` bytes of
        ``digest``. A copy, never a link: what the caller does to ``dest`` later cannot
        reach the cache, nor another pull of the same blob."""
        hasher = Hasher()
        try:
            with open(self.path_of(digest), "rb", buffering=0) as source, \
                    room_for(f"the pulled files in {dest.parent}"), open(dest, "xb") as out:
                writer = BackgroundWriter(out.fileno())
                try:
                    while hasher.size <= size and (chunk := source.read(COPY_CHUNK)):
                        hasher.update(chunk)
                        writer.write(chunk)
                finally:
                    writer.close()
            if hasher.size != size or hasher.hexdigest() != digest:
                raise digest_mismatch(digest, hasher.hexdigest(), f"the cached copy of "
                                      f"{dest.name} ({hasher.size} of {size} bytes)")
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def evict(self, digest: str) -> None:
        final = self.path_of(digest)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(final, 0o600)
            final.unlink()


def _written(chunks: Iterable[bytes | memoryview], fd: int, size: int, hasher: Hasher,
             progress: Progress | None) -> None:
    """Append the chunks to ``fd``, hashing each while the one before is written."""
    writer = BackgroundWriter(fd)
    try:
        for chunk in chunks:
            writer.write(chunk)
            hasher.update(chunk)
            if progress:
                progress(len(chunk))
            if hasher.size > size:
                break
    finally:
        writer.close()


def _spliced(splice: Callable[..., bool], partial: Path, fd: int, start: int, size: int,
             hasher: Hasher, progress: Progress | None) -> bool:
    """Let the source write its bytes into the file itself (``splice_into``), hashing
    them from the file behind it; False if it cannot, before any byte was taken."""
    landing = os.open(partial, os.O_WRONLY)  # not in append mode: splice refuses that
    reserve(landing, start, size - start)
    behind = HashBehind(fd, start, hasher)
    try:
        def written(count: int) -> None:
            behind.landed(count)
            if progress:
                progress(count)
        return splice(landing, start, size - start, written)
    finally:
        os.close(landing)
        behind.finish()


@contextlib.contextmanager
def _locked(file: object) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)  # type: ignore[attr-defined]


def _drop_if_orphan(partial: Path, out: object) -> None:
    """Remove the empty .partial this process created after the blob was published."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(partial).st_ino == os.fstat(out.fileno()).st_ino:  # type: ignore[attr-defined]
            partial.unlink()


def _hash_prefix(fd: int, length: int) -> Hasher:
    hasher = Hasher()
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    os.lseek(fd, 0, os.SEEK_SET)
    while hasher.size < length:
        count = os.readv(fd, [view[:min(len(buffer), length - hasher.size)]])
        if not count:
            break
        hasher.update(view[:count])
    return hasher

