"""What proving every pulled byte costs: placing a cached blob at DEST, four ways.

Issue 13 (defect 5): a pull hard-linked DEST to the cache entry and did not re-hash a
cache hit, so bytes altered on disk (through DEST itself: it *was* the cache entry) were
handed out as "sha256 verified". This script measures the candidates on one blob of
``--size-mib`` (1 GiB by default), each ``--rounds`` times, warm (the cache entry in the
page cache) and cold (evicted with posix_fadvise DONTNEED after an fsync):

* ``link``           — os.link into DEST, no hash: what pulls did (proves nothing);
* ``rehash+link``    — hash the cache entry, then link (DEST still *is* the cache entry);
* ``copy+hash``      — read the entry once, hash it and write DEST from the same bytes,
                       the write in a helper thread (what ``BlobCache.copy_out`` does);
* ``kcopy+hash``     — copy_file_range into DEST in the kernel, then read DEST to hash it.

Then, unless ``--no-pull``, a whole pull of the same blob through a real ``charter serve``
on loopback with the SDK (``RemoteRegistry.download``): cold (empty pull cache: fetched,
hashed, published, copied out and hashed) and warm (a cache hit: copied out and hashed).
Run it with ``PYTHONPATH`` at another tree's ``src`` to measure that tree's pull.

    python bench/pull_cache.py [--size-mib 1024] [--rounds 3] [--dir /var/tmp] [--no-pull]

Prints a markdown table of median seconds (min-max) and GiB/s, and the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def link(source: Path, dest: Path, digest: str) -> None:
    os.link(source, dest)


def rehash_link(source: Path, dest: Path, digest: str) -> None:
    assert sha256_of(source) == digest
    os.link(source, dest)


def copy_hash(source: Path, dest: Path, digest: str) -> None:
    """One read of the entry: each chunk is hashed here while the one before is written."""
    hasher = hashlib.sha256()
    pending: list[bytes] = []
    ready, done = threading.Condition(), threading.Event()
    with open(source, "rb", buffering=0) as src, open(dest, "xb", buffering=0) as out:
        def write() -> None:
            while True:
                with ready:
                    ready.wait_for(lambda: pending or done.is_set())
                    if not pending:
                        return
                    chunk = pending.pop(0)
                    ready.notify_all()
                out.write(chunk)

        writer = threading.Thread(target=write)
        writer.start()
        while chunk := src.read(CHUNK):
            hasher.update(chunk)
            with ready:
                ready.wait_for(lambda: len(pending) < 4)
                pending.append(chunk)
                ready.notify_all()
        done.set()
        with ready:
            ready.notify_all()
        writer.join()
    assert hasher.hexdigest() == digest


def kcopy_hash(source: Path, dest: Path, digest: str) -> None:
    with open(source, "rb") as src, open(dest, "xb") as out:
        left = os.fstat(src.fileno()).st_size
        while left:
            left -= os.copy_file_range(src.fileno(), out.fileno(), left)
    assert sha256_of(dest) == digest


METHODS: dict[str, Callable[[Path, Path, str], None]] = {
    "link": link, "rehash+link": rehash_link, "copy+hash": copy_hash,
    "kcopy+hash": kcopy_hash}


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure_placements(root: Path, size: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    blob = root / "cache-entry"
    with open(blob, "wb") as out:
        for _ in range(size // CHUNK):
            out.write(os.urandom(CHUNK))
    digest = sha256_of(blob)
    figures: dict[tuple[str, str], list[float]] = {}
    for state in ("warm", "cold"):
        for name, method in METHODS.items():
            for _ in range(rounds):
                dest = root / f"dest-{name}"
                if state == "cold":
                    evict(blob)
                else:
                    sha256_of(blob)  # in the page cache
                figures.setdefault((name, state), []).append(
                    timed(lambda: method(blob, dest, digest)))  # noqa: B023 - called at once
                if dest.exists():
                    if dest.stat().st_nlink == 1:
                        evict(dest)  # its dirty pages must not slow the next round
                    dest.unlink()
    return figures


def measure_pulls(root: Path, size: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    """A real server on loopback; the SDK pulls the blob with an empty and a warm cache."""
    from charter.client import RemoteRegistry
    from charter.server.run import free_port

    model = root / "model"
    model.mkdir()
    with open(model / "weights.bin", "wb") as out:
        for _ in range(size // CHUNK):
            out.write(os.urandom(CHUNK))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["CHARTER_HOME"] = str(root / "server")
    server = subprocess.Popen([sys.executable, "-m", "charter.cli.main", "serve", "--port",
                               str(port), "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict[tuple[str, str], list[float]] = {}
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        with RemoteRegistry(url, actor="bench", cache_dir=root / "cache") as registry:
            registry.register("bench_weights", path=model)
            for index in range(rounds):
                shutil.rmtree(root / "cache", ignore_errors=True)
                for state in ("cold", "warm"):
                    dest = root / f"pulled-{state}-{index}"
                    figures.setdefault(("SDK pull", state), []).append(timed(
                        lambda: registry.download("models:/bench_weights/1", dest)))  # noqa: B023
                    shutil.rmtree(dest)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return figures


def _wait(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def report(figures: dict[tuple[str, str], list[float]], size: int) -> None:
    gib = size / 1024**3
    print("| method | page cache | median s (min-max) | GiB/s |")
    print("|---|---|---|---|")
    for (name, state), times in figures.items():
        median = statistics.median(times)
        print(f"| {name} | {state} | {median:.3f} ({min(times):.3f}-{max(times):.3f}) | "
              f"{gib / median:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: $TMPDIR)")
    parser.add_argument("--no-pull", action="store_true", help="skip the pulls via a server")
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="charter-pull-bench-") as tmp:
        figures = measure_placements(Path(tmp), size, args.rounds)
        if not args.no_pull:
            figures.update(measure_pulls(Path(tmp), size, args.rounds))
    print(f"blob: {args.size_mib} MiB, {args.rounds} rounds each")
    report(figures, size)
    print(f"\nload average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
