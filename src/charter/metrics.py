"""The server's Prometheus metrics: hooks any layer may call, and their exposition.

A leaf module, like ``fileio/``: it imports nothing of Charter. The hooks below cost a
global lookup until the server calls ``enable()`` (``charter serve``, ``create_app``),
which imports prometheus_client and makes the metrics; the CLI and an embedded registry
never pay for them.

With several workers (``charter serve --workers N``) every worker writes its values to
files in ``PROMETHEUS_MULTIPROC_DIR``, a private directory ``charter serve`` makes, and
a scrape of any worker sums them all (prometheus_client's multiprocess mode). Labels are
bounded: a route is its template (``/api/v1/models/{name}``), never the raw path; a
status is its class (``2xx``); a stage is one of the registry's stages.

docs/operations.md lists every metric and what to alert on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a SQLite point read answers in well under a millisecond, a slow PostgreSQL
# write in tens of milliseconds; anything past 10 s is an outage, not a latency.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 5.0)


@dataclass(frozen=True)
class _Metrics:
    requests: Any
    latency: Any
    pool_in_use: Any
    pool_wait: Any
    turn_wait: Any
    cache_hits: Any
    cache_misses: Any
    cache_bytes: Any
    cache_admissions: Any
    cache_evictions: Any
    deliveries: Any
    transfer: Any
    transitions: Any


_on: _Metrics | None = None
# A request's labelled children, found once: ``labels()`` costs more than the increment.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def enabled() -> bool:
    return _on is not None


def enable() -> None:
    """Make the metrics (once per process). In a worker of ``--workers N`` the multiprocess
    directory is already in the environment, so values go to its files."""
    global _on
    if _on is not None:
        return
    from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

    disable_created_metrics()  # the *_created series double the text for little use

    _on = _Metrics(
        requests=Counter("charter_http_requests", "HTTP requests answered, by route template, "
                         "method and status class", ["route", "method", "status"]),
        latency=Histogram("charter_http_request_duration_seconds", "Time to answer, from the "
                          "request's arrival to its last byte", ["route", "method", "status"],
                          buckets=LATENCY_BUCKETS),
        pool_in_use=Gauge("charter_db_pool_in_use", "Database connections checked out of "
                          "the pool now", multiprocess_mode="livesum"),
        pool_wait=Histogram("charter_db_pool_wait_seconds", "Time a request waited for a "
                            "pooled database connection", buckets=WAIT_BUCKETS),
        turn_wait=Histogram("charter_write_turn_wait_seconds", "Time a write waited for the "
                            "single write turn (docs/architecture.md)", buckets=WAIT_BUCKETS),
        cache_hits=Counter("charter_answer_cache_hits", "MLflow read answers served from "
                           "the answer cache"),
        cache_misses=Counter("charter_answer_cache_misses", "MLflow read answers computed "
                             "afresh (not cached, or the registry changed)"),
        cache_bytes=Gauge("charter_answer_cache_bytes", "Bytes the answer caches hold",
                          multiprocess_mode="livesum"),
        cache_admissions=Counter("charter_answer_cache_admissions", "What became of MLflow "
                                 "read answers computed on a miss: stored, first_ask (not "
                                 "kept: its request was not asked recently before), "
                                 "too_large, colder (not kept: the cache is full of "
                                 "answers asked as often or more)", ["outcome"]),
        cache_evictions=Counter("charter_answer_cache_evictions", "Answers dropped from the "
                                "answer cache to make room (least recently used first)"),
        deliveries=Counter("charter_webhook_deliveries", "Webhook delivery attempts, by "
                           "outcome: delivered, retrying, dead", ["outcome"]),
        transfer=Counter("charter_transfer_bytes", "File bytes received (upload) and sent "
                         "(download)", ["direction"]),
        transitions=Counter("charter_stage_transitions", "Stage transitions committed, by "
                            "target stage", ["stage"]),
    )


# --- the hooks -------------------------------------------------------------------------------


def request_done(route: str, method: str, status: int, seconds: float) -> None:
    if _on is None:
        return
    key = (route, method, status // 100)
    children = _request_children.get(key)
    if children is None:  # bounded: route templates x methods x status classes
        status_class = f"{status // 100}xx" if 100 <= status < 600 else "other"
        children = (_on.requests.labels(route, method, status_class),
                    _on.latency.labels(route, method, status_class))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def pool_checked_out(delta: int) -> None:
    """+1 when a database connection leaves the pool, -1 when it returns."""
    if _on is not None:
        _on.pool_in_use.inc(delta)


def pool_wait(seconds: float) -> None:
    if _on is not None:
        _on.pool_wait.observe(seconds)


def write_turn_wait(seconds: float) -> None:
    if _on is not None:
        _on.turn_wait.observe(seconds)


def answer_cache(hit: bool) -> None:
    if _on is not None:
        (_on.cache_hits if hit else _on.cache_misses).inc()


def answer_cache_admission(outcome: str, evicted: int = 0) -> None:
    """An answer computed on a miss: ``stored`` (making room by evicting ``evicted``
    others), ``first_ask``, ``too_large`` or ``colder``."""
    if _on is not None:
        _on.cache_admissions.labels(outcome).inc()
        if evicted:
            _on.cache_evictions.inc(evicted)


def answer_cache_bytes(delta: int) -> None:
    """The change in bytes this process's answer cache holds."""
    if _on is not None and delta:
        _on.cache_bytes.inc(delta)


def webhook_delivery(outcome: str) -> None:
    """``delivered``, ``retrying`` or ``dead``."""
    if _on is not None:
        _on.deliveries.labels(outcome).inc()


def transferred(direction: str, nbytes: int) -> None:
    """``upload`` or ``download``: file bytes that crossed the wire."""
    if _on is not None and nbytes > 0:
        _on.transfer.labels(direction).inc(nbytes)


def stage_transitions(stages: Iterable[str]) -> None:
    """Committed transitions, one target stage each."""
    if _on is not None:
        for stage in stages:
            _on.transitions.labels(stage).inc()


# --- exposition ------------------------------------------------------------------------------


def exposition(extra: dict[str, tuple[str, float]] | None = None) -> bytes:
    """The text format of every metric: all workers' values in multiprocess mode, this
    process's otherwise; ``extra`` adds gauges read at scrape time (name: (help, value)),
    such as the outbox depth, which the database knows for every replica at once."""
    enable()
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry: Any = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    text = generate_latest(registry)
    for name, (help_text, value) in sorted((extra or {}).items()):
        text += (f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"
                 f"{name} {float(value)!r}\n").encode()
    return text

