"""Screenshots of the web UI for docs/ui.md, taken from a real server with realistic data.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--all]

Populates a throwaway home through the service (a few product models with a
Production history, a rollback, aliases, tags and stored files), starts
``charter serve`` on it and photographs the pages with Debian's Chromium.
``--all`` also takes the version, audit and naming pages and phone-width views.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.e2e.server

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from tests.e2e.server import running_server  # noqa: E402

from charter.bootstrap import build_service  # noqa: E402
from charter.config import Settings  # noqa: E402
from charter.service import RegistryService  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


class Clock:
    """A clock the script moves forward, so the story spans months, not milliseconds."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def populate(home: Path) -> None:
    # Registered under "warn" so one legacy name can exist; the server runs "enforce".
    base = build_service(Settings.load({"home": home, "naming_mode": "warn"}))
    clock = Clock(datetime(2024, 3, 4, 9, 30, tzinfo=UTC))
    base.clock = clock

    def who(actor: str) -> RegistryService:
        return base.as_actor(actor)

    _fraud_detector(who, clock, home)
    _simple(who, clock, "churn_predictor", 8, production=7, staging=[8],
            tags={"owner": "@tomas", "team": "growth"},
            description="Probability that a subscriber cancels within 30 days.")
    _simple(who, clock, "search_ranker", 23, production=21, staging=[22, 23],
            tags={"owner": "@aiko", "team": "search"},
            description="Re-ranks the top 200 search candidates by predicted click.")
    _simple(who, clock, "recommendation_ranking", 5, production=4, staging=[],
            tags={"owner": "@ravi", "team": "recommendations"},
            description="Orders the home-page carousel.")
    _simple(who, clock, "payments_risk_model", 3, production=None, staging=[3],
            tags={"owner": "@lena", "team": "payments"},
            description="Scores card-not-present payments before authorisation.")
    _simple(who, clock, "lending_credit_score", 9, production=9, staging=[],
            tags={"owner": "@kofi", "team": "lending"},
            description="Credit score for instalment loans under 2,000 EUR.")
    _simple(who, clock, "demand_forecaster", 2, production=None, staging=[],
            tags={"owner": "@tomas", "team": "supply"},
            description="Daily demand per warehouse and product family.")
    _simple(who, clock, "churn_lstm_2023", 1, production=None, staging=[],
            tags={"owner": "@tomas"}, description="Legacy name from before the naming policy.")
    base.db.dispose()


def _fraud_detector(who: Callable[[str], RegistryService], clock: Clock, home: Path) -> None:
    name = "fraud_detector"
    who("meera").create_model(name, description=(
        "Flags card transactions that are likely account-takeover fraud. "
        "Serves the checkout risk check; SLA p99 < 120 ms."),
        tags={"owner": "@meera", "team": "fraud", "oncall": "#fraud-oncall"})
    notes = {3: "XGBoost baseline with calibrated probabilities",
             7: "Improved recall on account takeover fraud",
             10: "Adds device-fingerprint features",
             12: "Device features with the latency fix"}
    files = _model_folder(home / "fraud_model")
    for number in range(1, 13):
        clock.advance(days=6, hours=3)
        run = hashlib.sha1(f"{name}/{number}".encode()).hexdigest()[:32]
        if number == 12:
            who("ci-train").register(name, path=files, run_id="", description=notes[12],
                                     tags={"algorithm": "xgboost", "training_data": "2024-06"})
        else:
            who("ci-train").register(name, f"runs:/{run}/model", run_id=run,
                                     description=notes.get(number, ""))
    story: list[tuple[str, str, int, str, bool]] = [
        ("meera", "Staging", 3, "offline AUC 0.91 on the October holdout", False),
        ("meera", "Production", 3, "beats the rules engine by 18% recall at equal precision",
         False),
        ("tomas", "Staging", 7, "offline validation passed", False),
        ("tomas", "Production", 7, "recall +4% on account takeover in a 2-week shadow test",
         True),
        ("meera", "Staging", 10, "device features validated offline", False),
        ("meera", "Production", 10, "shadow test clean for 7 days", True),
        ("aiko", "rollback", 0, "p99 latency 180 ms after launch, above the 120 ms SLA", False),
        ("meera", "Staging", 11, "candidate with pruned features", False),
        ("meera", "Archived", 11, "lost to v10 on precision; not worth the complexity",
         False),
        ("meera", "Staging", 12, "latency fix verified in load test", False),
        ("meera", "Production", 12, "shadow test 48 h clean; p99 95 ms", True),
    ]
    for actor, stage, number, reason, archive in story:
        clock.advance(days=9, hours=5)
        service = who(actor)
        if stage == "rollback":
            service.rollback(name, reason=reason)
        else:
            service.transition(name, number, stage, reason=reason, archive_existing=archive)
    service = who("meera")
    service.set_alias(name, "champion", 12)
    service.set_alias(name, "challenger", 10)


def _model_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: "
                                    "mlflow.xgboost\n  xgboost:\n    xgb_version: 2.0.3\n")
    (folder / "model.xgb").write_bytes(bytes(range(256)) * 1400)
    (folder / "conda.yaml").write_text("dependencies:\n- python=3.11\n- pip:\n"
                                       "  - xgboost==2.0.3\n")
    (folder / "requirements.txt").write_text("xgboost==2.0.3\nscikit-learn==1.4.2\n")
    return folder


def _simple(who: Callable[[str], RegistryService], clock: Clock, name: str, count: int, *,
            production: int | None, staging: list[int], tags: dict[str, str],
            description: str) -> None:
    owner = tags.get("owner", "@ml").lstrip("@")
    who(owner).create_model(name, description=description, tags=tags)
    for number in range(1, count + 1):
        clock.advance(days=2, hours=7)
        run = hashlib.sha1(f"{name}/{number}".encode()).hexdigest()[:32]
        who("ci-train").register(name, f"runs:/{run}/model", run_id=run)
    service = who(owner)
    if production:
        clock.advance(hours=20)
        service.transition(name, production, "Staging", reason="offline validation passed")
        service.transition(name, production, "Production", reason="A/B test won on the "
                           "primary metric")
        service.set_alias(name, "champion", production)
    for number in staging:
        clock.advance(hours=3)
        service.transition(name, number, "Staging", reason="candidate for the next A/B test")


def shoot(url: str, out: Path, every: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    shots = [("registry.png", "/", 1280), ("model.png", "/models/fraud_detector", 1280)]
    if every:
        shots += [("version.png", "/models/fraud_detector/versions/12", 1280),
                  ("audit.png", "/audit", 1280),
                  ("naming.png", "/naming?name=fraud_detector_v2", 1280),
                  ("registry-phone.png", "/", 390),
                  ("model-phone.png", "/models/fraud_detector", 390)]
    taken = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page: Page = browser.new_page()
        for file_name, path, width in shots:
            page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
            target = out / file_name
            page.screenshot(path=str(target), full_page=True)
            taken.append(target)
        browser.close()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--all", action="store_true", help="every page, and phone widths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        populate(home)
        with running_server(home) as url:
            for path in shoot(url, args.out, args.all):
                print(path)


if __name__ == "__main__":
    main()
