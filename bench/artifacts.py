"""Artifact transfer, side by side: Charter, MLflow's artifact proxy and `cp`, in one run.

    .venv/bin/python bench/artifacts.py [--size-mib 1024] [--rss-size-mib 2048]
                                        [--rounds 3] [--dir /tmp] [--timeout 1800]

One file of random bytes is created in a temp folder under --dir; on the same disk:

* ``cp`` copies it (and ``cp`` + ``sync``, since Charter fsyncs what it stores);
* MLflow's server (``mlflow server --serve-artifacts``, its defaults) receives it
  through the MLflow client's ``HttpArtifactRepository`` and sends it back;
* ``charter serve`` receives it through ``RemoteRegistry.register(path=…)`` (streamed,
  hashed on both sides, committed) and sends it back through ``download`` (into an
  empty pull cache, verified, linked into the destination).

Throughput is MiB/s of the file's size over the wall time of each call; the
contenders take turns for --rounds rounds and each figure is its best round (a
shared machine is noisy). CPU is user+system seconds per GiB of the client (this
process) and the server (its process tree). Then the server's resident memory is
sampled every 20 ms while a --rss-size-mib file goes up and down (MLflow's summed
over its processes). Every step has a deadline; servers and files are removed at
the end. Client and servers share the machine: the ratios are the result.

Before each timed step the script touches and frees 3x the file's size of memory
(``--cold`` skips it). On a VM whose balloon reports free pages to the host
(virtio-balloon free page reporting, as on this Firecracker VM), memory left free
for 2 s goes back to the host, and the next time the page cache takes it, it costs
~0.8 s/GiB more in host faults (2.7 s/GiB for memory untouched since boot): about
what Charter's whole transfer costs, a fifth of MLflow's. Warming puts every
contender on memory the host has just backed, as on a long-running server whose
page cache is full.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from charter.client import RemoteRegistry  # noqa: E402
from charter.server.run import free_port  # noqa: E402

MIB = 1024 * 1024
VENV_BIN = Path(sys.executable).parent


# ---- processes -------------------------------------------------------------------------

@contextmanager
def process(command: list[str], url: str, log: Path, env: dict[str, str] | None = None,
            ready: str = "/health") -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                 env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"{command[0]} exited:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(url + ready, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{command[0]} did not start:\n{log.read_text()[-2000:]}")
        yield child
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def tree_pids(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process tree, and of this process (the clients)."""
    total = 0.0
    for current in tree_pids(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu_seconds() -> float:
    mine = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # cp; not the servers (still running)
    return mine.ru_utime + mine.ru_stime + waited.ru_utime + waited.ru_stime


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for current in tree_pids(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines()
                          if line.startswith("VmRSS:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    peak = [rss_bytes(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


# ---- measurements ----------------------------------------------------------------------

CPU: dict[str, float] = {}  # label -> CPU seconds per GiB, client + server


WARM = [True]  # --cold clears it


def warm_memory(size: int) -> None:
    """Touch ``size`` bytes of fresh memory and free them (see the docstring)."""
    available = next(int(line.split()[1]) * 1024 for line in
                     Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemAvailable:"))
    size = max(0, min(size, available - 2048 * MIB))
    held = [bytearray(min(256 * MIB, size - done)) for done in range(0, size, 256 * MIB)]
    del held


def timed(label: str, size: int, action: Callable[[], object], deadline: float,
          server: int | None = None) -> float:
    if time.monotonic() > deadline:
        raise TimeoutError(f"out of time before {label}")
    if WARM[0]:
        warm_memory(3 * size)
    client_before, server_before = own_cpu_seconds(), cpu_seconds(server) if server else 0.0
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    gib = size / (1024 * MIB)
    client = (own_cpu_seconds() - client_before) / gib
    served = ((cpu_seconds(server) if server else 0.0) - server_before) / gib
    CPU[label] = client + served
    rate = size / MIB / seconds
    split = f" (client {client:4.2f} + server {served:4.2f})" if server else ""
    print(f"  {label:<34} {seconds:7.2f} s  {rate:8.0f} MiB/s  "
          f"CPU {CPU[label]:5.2f} s/GiB{split}", flush=True)
    return rate


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(8 * MIB, left))
            out.write(chunk)
            left -= len(chunk)


def new_content(path: Path, number: int) -> None:
    """Make the file's bytes new for this round, as a newly trained model's are: a
    registry that already has them could skip work it should be measured doing."""
    with open(path, "r+b") as out:
        out.write(number.to_bytes(8, "little") + os.urandom(8))


def run_cp(source: Path, work: Path, deadline: float) -> tuple[float, float]:
    target = work / "cp.bin"
    plain = timed("cp", source.stat().st_size,
                  lambda: subprocess.run(["cp", str(source), str(target)], check=True),
                  deadline)
    target.unlink()
    synced = timed("cp + sync", source.stat().st_size,
                   lambda: subprocess.run(f"cp '{source}' '{target}' && sync '{target}'",
                                          shell=True, check=True), deadline)
    target.unlink()
    return plain, synced


@contextmanager
def mlflow_server(work: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
               "--artifacts-destination", str(work / "mlflow-artifacts"), "--serve-artifacts"]
    with process(command, url, work / "mlflow.log") as child:
        yield url, child


def mlflow_transfer(url: str, source: Path, work: Path, name: str, deadline: float,
                    server: int) -> tuple[float, float]:
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    repo = HttpArtifactRepository(f"{url}/api/2.0/mlflow-artifacts/artifacts/{name}")
    size = source.stat().st_size
    up = timed("MLflow upload", size, lambda: repo.log_artifact(str(source)), deadline, server)
    dest = work / f"mlflow-pull-{name}"
    dest.mkdir()
    down = timed("MLflow download", size,
                 lambda: repo.download_artifacts(source.name, str(dest)), deadline, server)
    shutil.rmtree(dest)
    shutil.rmtree(work / "mlflow-artifacts" / name, ignore_errors=True)
    return up, down


@contextmanager
def charter_server(work: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "charter.cli.main", "serve", "--port", str(port),
               "--log-level", "warning"]
    env = {"CHARTER_HOME": str(work / "charter-home"), "CHARTER_ACTOR": "bench"}
    with process(command, url, work / "charter.log", env, ready="/healthz") as child:
        yield url, child


def charter_transfer(url: str, source: Path, work: Path, name: str, deadline: float,
                     server: int) -> tuple[float, float]:
    size = source.stat().st_size
    cache = work / f"charter-cache-{name}"
    with RemoteRegistry(url, actor="bench", cache_dir=cache) as registry:
        up = timed("Charter upload (register)", size,
                   lambda: registry.register(name, path=source), deadline, server)
        dest = work / f"charter-pull-{name}"
        down = timed("Charter download (pull)", size,
                     lambda: registry.download(f"models:/{name}/latest", dest), deadline,
                     server)
    shutil.rmtree(dest)
    _remove(cache)
    return up, down


def _remove(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    shutil.rmtree(folder, ignore_errors=True)


# ---- the run ---------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rss-size-mib", type=int, default=2048)
    parser.add_argument("--dir", default=None, help="where the temp folder goes (same disk)")
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best round")
    parser.add_argument("--timeout", type=float, default=1800.0, help="whole run, seconds")
    parser.add_argument("--cold", action="store_true",
                        help="do not warm memory before each step (see above)")
    args = parser.parse_args()
    WARM[0] = not args.cold
    deadline = time.monotonic() + args.timeout
    work = Path(tempfile.mkdtemp(prefix="charter-bench-", dir=args.dir))
    try:
        run(work, args.size_mib * MIB, args.rss_size_mib * MIB, args.rounds, deadline)
    finally:
        _remove(work)


def run(work: Path, size: int, rss_size: int, rounds: int, deadline: float) -> None:
    source = work / "model.bin"
    print(f"{size // MIB} MiB file in {work}; best of {rounds} rounds; memory "
          f"{'warmed' if WARM[0] else 'not warmed'} before each step", flush=True)
    make_file(source, size)
    best: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def keep(results: dict[str, float]) -> None:
        for label, rate in results.items():
            best.setdefault(label, []).append(rate)
            cpu.setdefault(label, []).append(CPU[label])

    with mlflow_server(work) as (mlflow_url, mlflow_child), \
            charter_server(work) as (charter_url, charter_child):
        for number in range(rounds):  # the contenders take turns, so load spikes hit all
            print(f"round {number + 1}:", flush=True)
            new_content(source, number)
            cp, cp_sync = run_cp(source, work, deadline)
            up, down = mlflow_transfer(mlflow_url, source, work, f"fraud_detector{number}",
                                       deadline, mlflow_child.pid)
            c_up, c_down = charter_transfer(charter_url, source, work, "fraud_detector",
                                            deadline, charter_child.pid)
            keep({"cp": cp, "cp + sync": cp_sync, "MLflow upload": up,
                  "MLflow download": down, "Charter upload (register)": c_up,
                  "Charter download (pull)": c_down})
        big = work / "big.bin"
        source.unlink()
        make_file(big, rss_size)
        print(f"server RSS while {rss_size // MIB} MiB go up and down:", flush=True)
        with peak_rss(charter_child.pid) as charter_rss:
            charter_transfer(charter_url, big, work, "payments_risk_model", deadline,
                             charter_child.pid)
        with peak_rss(mlflow_child.pid) as mlflow_rss:
            mlflow_transfer(mlflow_url, big, work, "payments_risk_model", deadline,
                            mlflow_child.pid)
    report(size, rss_size, {k: max(v) for k, v in best.items()},
           {k: statistics.median(v) for k, v in cpu.items()}, mlflow_rss[0], charter_rss[0])


def report(size: int, rss_size: int, rate: dict[str, float], cpu: dict[str, float],
           mlflow_rss: int, charter_rss: int) -> None:
    cp = rate["cp"]
    up, down = rate["Charter upload (register)"], rate["Charter download (pull)"]
    m_up, m_down = rate["MLflow upload"], rate["MLflow download"]
    rows = [
        ("cp (same disk)", cp, cp, f"{cpu['cp']:.2f}", ""),
        ("cp + sync", rate["cp + sync"], rate["cp + sync"], f"{cpu['cp + sync']:.2f}", ""),
        ("MLflow artifact proxy", m_up, m_down,
         f"{cpu['MLflow upload']:.2f} / {cpu['MLflow download']:.2f}",
         f"{mlflow_rss / MIB:.0f} MiB"),
        ("Charter", up, down,
         f"{cpu['Charter upload (register)']:.2f} / {cpu['Charter download (pull)']:.2f}",
         f"{charter_rss / MIB:.0f} MiB"),
    ]
    print()
    print(f"| {size // MIB} MiB file (best round) | upload MiB/s | download MiB/s | "
          f"CPU s/GiB up / down, client+server (median) | server peak RSS, "
          f"{rss_size // MIB} MiB up+down |")
    print("|---|---:|---:|---:|---:|")
    for label, row_up, row_down, cpu_text, rss in rows:
        print(f"| {label} | {row_up:.0f} | {row_down:.0f} | {cpu_text} | {rss} |")
    print(f"| Charter / MLflow | {up / m_up:.1f}x | {down / m_down:.1f}x | | |")
    print(f"| Charter / cp | {up / cp:.0%} | {down / cp:.0%} | | |")

if __name__ == "__main__":
    main()
