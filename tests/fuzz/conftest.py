"""The fuzz tier's servers, budget and shared checks (docs/testing.md, "Fuzz tier").

Two real ``charter serve`` processes on loopback, each over a seeded registry:

* ``open_server``: authentication off (a loopback server), a local admin acts;
* ``guarded_server``: authentication on, ``default_role = "none"``; ``nina`` holds no
  role (every model is hidden from her), ``ada`` is an admin. ``search_ranker`` is a
  model nobody but admins may see.

Webhook deliveries are off on both (``[webhooks] worker = false``) and the one route
that sends a request at once (``POST /webhooks/{webhook}/test``) is not fuzzed: the
tier must never reach beyond loopback, and fuzzed webhook URLs point anywhere.

The budget: ``CHARTER_FUZZ_EXAMPLES`` examples per operation (default 10 inside
``make test``, a third of that per identity with auth on; ``make fuzz`` runs 200).
Without ``CHARTER_FUZZ_SEED`` the examples are derandomized (the same every run, so CI
is repeatable); ``make fuzz`` draws a seed and prints it, to replay a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from tests.e2e.server import running_server

EXAMPLES = int(os.environ.get("CHARTER_FUZZ_EXAMPLES", "10"))
EXAMPLES_PER_IDENTITY = max(1, EXAMPLES // 3)  # with auth on, each of several identities
SEED = os.environ.get("CHARTER_FUZZ_SEED")
DOCS = Path(__file__).resolve().parents[2] / "docs"
NOT_FUZZED = {("POST", "/api/v1/webhooks/{webhook}/test")}  # sends a request beyond loopback
MODEL, HIDDEN = "fraud_detector", "search_ranker"


@dataclass
class Server:
    url: str
    home: Path
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # identity -> headers


def _seed(home: Path, auth: bool) -> dict[str, str]:
    """A registry worth fuzzing: versions in every stage, files, tags, an alias; users."""
    (home / "charter.toml").parent.mkdir(parents=True, exist_ok=True)
    (home / "charter.toml").write_text("[webhooks]\nworker = false\n")
    settings = Settings.load({"home": home, "auth_enabled": auth,
                              "auth_default_role": "none"}, env={})
    service = build_service(settings, actor="fuzz-seed")
    files = home.parent / f"{home.name}-model"
    (files / "data").mkdir(parents=True)
    (files / "model.pkl").write_bytes(b"weights" * 100)
    (files / "data" / "conf.json").write_text('{"threshold": 0.7}')
    service.register(MODEL, path=files, tags={"team": "payments"})
    for number in (2, 3):
        service.register(MODEL, f"s3://models/{MODEL}/{number}")
    service.transition(MODEL, 1, "Staging")
    service.transition(MODEL, 1, "Production")
    service.transition(MODEL, 2, "Staging")
    service.set_alias(MODEL, "champion", 1)
    service.register(HIDDEN, f"s3://models/{HIDDEN}/1")
    tokens = {}
    if auth:
        service.create_user("nina")
        service.create_user("ada", admin=True)
        tokens = {user: service.create_token(user, note="fuzz").secret for user in ("nina", "ada")}
    service.db.dispose()
    return tokens


@pytest.fixture(scope="session")
def open_server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fuzz-open") / "home"
    _seed(home, auth=False)
    with running_server(home, extra_env={"CHARTER_AUTH": "off"}) as url:
        yield Server(url, home, {"local admin": {"X-Charter-Actor": "fuzz"}})


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fuzz-guarded") / "home"
    tokens = _seed(home, auth=True)
    env = {"CHARTER_AUTH": "on", "CHARTER_AUTH_DEFAULT_ROLE": "none"}
    with running_server(home, extra_env=env) as url:
        yield Server(url, home, {user: {"Authorization": f"Bearer {token}"}
                                 for user, token in tokens.items()} | {"nobody": {}})


# ---- what every answer must be --------------------------------------------------------

def documented_codes(page: str) -> set[str]:
    """Every `code` in the error-code table of a docs page (docs/rest.md, docs/mlflow.md)."""
    text = (DOCS / page).read_text()
    section = text.split("<!-- error codes -->", 1)[1].split("<!-- /error codes -->", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+\.[a-z_.]+)`", section, re.M))


def error_code(url_path: str, body: Any) -> str | None:
    """The Charter code of an error answer, in either surface's shape."""
    if not isinstance(body, dict):
        return None
    if url_path.startswith("/api/v1"):
        error = body.get("error")
        return error.get("code") if isinstance(error, dict) else None
    return body.get("charter_code")


def no_server_error(status: int, where: str, text: str) -> None:
    """A 5xx other than 507 (no room for the bytes) is always Charter's bug."""
    assert status < 500 or status == 507, f"{where} answered {status}: {text[:500]}"
