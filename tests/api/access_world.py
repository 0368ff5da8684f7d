"""A registry with authentication on, users of every role, and their tokens.

Built once per test module into a template home, with one app; each test has that
app serve a fresh copy of the database (``World.fresh``), so tests may change
anything. Models:

* ``fraud_detector``: v1 Production, v2 Staging, v3 None, v4 Archived (it held
  Production before v1, so a rollback has a target), tag ``team``, alias ``champion``;
* ``churn_forecast``: v1 Archived (so it may be deleted);
* ``search_ranker``: v1 None, on which nobody below holds a role.

Users (``default_role = "none"``: models are private until granted): ``rita``
reader, ``cory`` contributor, ``mia`` maintainer, ``otto`` owner — each on
``fraud_detector`` and ``churn_forecast`` — ``nina`` with no role, ``ada`` an admin,
and ``cici`` with a registry-wide (``*``) contributor role.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.app import create_app
from charter.service import RegistryService

with warnings.catch_warnings():  # starlette nudges towards httpx2; the client still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FRAUD, CHURN, HIDDEN = "fraud_detector", "churn_forecast", "search_ranker"
ROLES = {"rita": "reader", "cory": "contributor", "mia": "maintainer", "otto": "owner"}
RUN = "0123456789abcdef0123456789abcdef"


class Clock:
    """A clock tests can move forward (token expiry)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> datetime:
        from datetime import timedelta

        return datetime.now(UTC) + timedelta(seconds=self.offset_s)


@dataclass
class World:
    home: Path
    tokens: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    client: TestClient | None = None

    def settings(self, home: Path, **overrides: Any) -> Settings:
        given = {"home": home, "auth_enabled": True, "auth_default_role": "none",
                 **self.overrides, **overrides}
        return Settings.load(given, env={})

    def start(self) -> TestClient:
        """The module's one app (building an app's route table costs about a second)."""
        settings = self.settings(self.home)
        self.client = TestClient(create_app(build_service(settings, migrate=False), settings))
        self.client.__enter__()
        return self.client

    def stop(self) -> None:
        if self.client is not None:
            self.client.app.state.service.db.dispose()  # type: ignore[attr-defined]
            self.client.__exit__(None, None, None)

    def fresh(self, tmp_path: Path, clock: Callable[[], datetime] | None = None,
              **overrides: Any) -> tuple[RegistryService, TestClient]:
        """The module's app, now serving a copy of the template database."""
        assert self.client is not None, "start() the world first"
        shutil.copyfile(self.home / "charter.db", tmp_path / "charter.db")
        service = build_service(self.settings(tmp_path, **overrides), actor="root",
                                migrate=False)
        if clock is not None:
            service.clock = clock
        self.client.app.state.service = service  # type: ignore[attr-defined]
        self.client.cookies.clear()
        return service, self.client

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def build_world(home: Path) -> World:
    world = World(home)
    service = build_service(world.settings(home), actor="root")
    for user in [*ROLES, "nina", "cici"]:
        service.create_user(user)
    service.create_user("ada", admin=True)
    for user in [*ROLES, "nina", "cici", "ada"]:
        world.tokens[user] = service.create_token(user, note="tests").secret
    service.grant("*", "cici", "contributor")
    _models(service)
    for user, role in ROLES.items():
        service.grant(FRAUD, user, role)
        service.grant(CHURN, user, role)
    service.db.dispose()
    return world


def _models(service: RegistryService) -> None:
    for number in range(1, 5):
        service.register(FRAUD, f"s3://models/{FRAUD}/{number}")
    service.transition(FRAUD, 4, "Staging")
    service.transition(FRAUD, 4, "Production")
    service.transition(FRAUD, 1, "Staging")
    service.transition(FRAUD, 1, "Production", archive_existing=True)
    service.transition(FRAUD, 2, "Staging")
    service.set_model_tag(FRAUD, "team", "payments")
    service.set_version_tag(FRAUD, 1, "algorithm", "xgboost")
    service.set_alias(FRAUD, "champion", 1)
    service.register(CHURN, f"s3://models/{CHURN}/1")
    service.transition(CHURN, 1, "Staging")
    service.transition(CHURN, 1, "Archived")
    service.register(HIDDEN, f"s3://models/{HIDDEN}/1")
