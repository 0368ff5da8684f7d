"""A real `charter serve --workers 2 --log-format json`: every worker's requests in one
scrape, JSON log lines carrying request ids, and the private metrics folder removed when
the server stops (docs/operations.md)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import running_server, wait_until

pytestmark = pytest.mark.e2e

MLFLOW = "/api/2.0/mlflow"
ROUTE = f"{MLFLOW}/registered-models/get"
REQUESTS = 120


def server_processes(home: Path) -> dict[int, str]:
    """pid -> metrics folder of the processes serving ``home``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = dict(item.split("=", 1) for item in
                       (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                       if "=" in item)
        except OSError:
            continue
        if env.get("CHARTER_HOME") == str(home) and env.get("PROMETHEUS_MULTIPROC_DIR"):
            found[int(entry.name)] = env["PROMETHEUS_MULTIPROC_DIR"]
    return found


def counted_per_process(folder: str) -> dict[int, float]:
    """pid -> requests to ROUTE that worker counted, read from its own metrics file."""
    counts = {}
    for path in Path(folder).glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        total = 0.0
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == "charter_http_requests_total" and labels.get("route") == ROUTE:
                total += value
        counts[pid] = total
    return counts


def scraped(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == "charter_http_requests_total" and s.labels["route"] == ROUTE)


def test_two_workers_one_scrape_json_logs_and_a_private_metrics_folder(tmp_path):
    with running_server(tmp_path, workers=2,
                        extra_args=["--log-format", "json", "--log-level", "info"]) as url:
        created = httpx.post(f"{url}{MLFLOW}/registered-models/create",
                             json={"name": "fraud_detector"}, timeout=10)
        assert created.status_code == 200, created.text
        folders = set(server_processes(tmp_path).values())
        assert len(folders) == 1  # the supervisor and both workers share one private folder
        folder = folders.pop()
        assert Path(folder).name.startswith("charter-metrics-")

        def get(number: int) -> str:
            with httpx.Client(timeout=10) as client:  # a new connection each: both workers
                response = client.get(f"{url}{ROUTE}", params={"name": "fraud_detector"},
                                      headers={"X-Request-ID": f"probe-{number}"})
            assert response.status_code == 200
            assert response.headers["x-request-id"] == f"probe-{number}"
            return response.headers["x-request-id"]

        deadline = time.monotonic() + 60
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while True:  # until both workers have answered some (the kernel picks)
                list(pool.map(get, range(sent, sent + REQUESTS)))
                sent += REQUESTS
                per_process = counted_per_process(folder)
                if len([n for n in per_process.values() if n > 0]) >= 2:
                    break
                assert time.monotonic() < deadline, per_process
        # A request is counted when its answer has been sent (the latency histogram needs
        # the whole duration), so the client can see the last answers a moment before
        # their worker counts them: wait for the count, then every scrape must agree.
        wait_until(lambda: sum(counted_per_process(folder).values()) == sent, timeout=10)
        # whichever worker answers the scrape, it reports both workers' requests
        for _ in range(4):
            assert scraped(url) == sent
        missing = httpx.get(f"{url}{ROUTE}", params={"name": "no_such_model"},
                            headers={"X-Request-ID": "probe-missing"}, timeout=10)
        assert missing.json()["request_id"] == "probe-missing"

    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()
             if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "charter.request"]
    assert len(requests) >= sent
    by_id = {line.get("request_id"): line for line in requests}
    line = by_id["probe-7"]
    assert {"time", "level", "request_id", "principal", "method", "route", "status",
            "duration_ms"} <= set(line)
    assert (line["method"], line["route"], line["status"], line["level"]) == (
        "GET", ROUTE, 200, "info")
    assert line["principal"] == "anonymous" and line["duration_ms"] >= 0
    refused = by_id["probe-missing"]
    assert (refused["status"], refused["error_code"]) == (404, "model.not_found")
    wait_until(lambda: not os.path.exists(folder), timeout=20)
