"""The web UI in a real browser (Debian's Chromium) against a real `charter serve`.

Data is registered through the service into the server's SQLite home before the
server starts; each test then works on its own model, so the tests share one
server and one browser but not their data. Every test gets a fresh browser context
(its own cookies, hence its own CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from tests.e2e.server import running_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.ui



def populate(home: Path) -> None:
    service = build_service(Settings.load({"home": home}, env={}), actor="ci-train")
    meera, tomas = service.as_actor("meera"), service.as_actor("tomas")
    for number in range(1, 4):
        service.register("fraud_detector", f"runs:/fd{number}/model", run_id=f"fd{number}")
    service.set_model_tag("fraud_detector", "owner", "@meera")
    for name in ("churn_predictor", "search_ranker", "payments_risk_model"):
        service.register(name, f"runs:/{name}1/model", run_id=f"{name}1")
        service.register(name, f"runs:/{name}2/model", run_id=f"{name}2")
        for number, actor, archive, why in ((1, meera, False, "beat the rules engine"),
                                            (2, tomas, True, "recall +4% in shadow test")):
            if name == "payments_risk_model" and number == 2:
                actor.transition(name, 2, "Staging", reason="candidate")
                continue
            actor.transition(name, number, "Staging", reason="offline validation passed")
            actor.transition(name, number, "Production", archive_existing=archive, reason=why)
    service.db.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ui-home")
    populate(home)
    with running_server(home) as url:
        yield url


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def stage_form_submit(page, stage: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    form = page.locator("#form-stage")
    form.get_by_role("radio", name=re.compile(stage)).check()
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Change stage").click()


def test_registry_tree_shows_models_with_stage_badges(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    card = page.locator(".model-card", has=page.get_by_role("link", name="churn_predictor"))
    expect(card).to_contain_text("(2 versions)")
    expect(card.locator(".tree li", has_text="v2").locator(".badge-production")).to_have_text(
        "Production")
    fraud = page.locator(".model-card", has=page.get_by_role("link", name="fraud_detector"))
    expect(fraud).to_contain_text("owner @meera")
    expect(fraud.locator(".badge-none")).to_have_text("None")


def test_filter_by_name_keeps_only_matching_models(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.get_by_label("Name contains").fill("churn")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"q=churn"))
    expect(page.locator(".model-card")).to_have_count(1)
    expect(page.locator(".model-card h2")).to_have_text("churn_predictor")


def test_promote_v1_to_staging_then_production_with_a_reason(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/models/fraud_detector/versions/1")
    # Only the moves the transition table allows from None are offered.
    expect(page.locator("#form-stage").get_by_role("radio")).to_have_count(1)
    stage_form_submit(page, "Staging", "offline AUC 0.91 on the holdout")
    expect(page.get_by_role("status")).to_contain_text("None → Staging")
    expect(page.locator("h1 .badge")).to_have_text("Staging")
    stage_form_submit(page, "Production", "shadow test clean for 7 days")
    expect(page.get_by_role("status")).to_contain_text("Staging → Production")
    expect(page.locator("h1 .badge")).to_have_text("Production")
    page.goto("/models/fraud_detector")
    live = page.locator(".timeline li.live")
    expect(live).to_contain_text("v1")
    expect(live).to_contain_text("shadow test clean for 7 days")


def test_rollback_asks_for_confirmation_then_swaps_production(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/models/search_ranker")
    form = page.locator("#form-rollback")
    form.get_by_label("Reason").fill("p99 latency regression in v2")
    form.get_by_role("button", name="Roll back…").click()
    expect(page.get_by_role("heading", name="Roll back search_ranker?")).to_be_visible()
    expect(page.locator(".changes")).to_contain_text("v2")
    expect(page.locator(".changes")).to_contain_text("v1")
    page.get_by_role("button", name="Roll back now").click()
    expect(page.get_by_role("status")).to_contain_text("v1 is in Production again")
    summary = page.locator(".page-head .summary")
    expect(summary).to_contain_text("Production v1")
    expect(summary).to_contain_text("Staging v2")
    expect(page.locator(".timeline li.live")).to_contain_text("restored it")


def test_refused_promotion_shows_the_hint_inline_and_changes_nothing(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/models/payments_risk_model/versions/2")
    expect(page.get_by_label(re.compile("Archive v1"))).not_to_be_checked()
    stage_form_submit(page, "Production", "looks good")
    alert = page.locator("#form-stage [role=alert]")
    expect(alert).to_contain_text("already has v1 in Production")
    expect(alert).to_contain_text("archive_existing")
    expect(page.locator("#stage-reason")).to_have_value("looks good")   # what was typed is kept
    page.goto("/models/payments_risk_model")
    summary = page.locator(".page-head .summary")
    expect(summary).to_contain_text("Production v1")
    expect(summary).to_contain_text("Staging v2")


def test_empty_reason_is_refused_by_the_server_too(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/models/fraud_detector/versions/3")
    page.locator("#stage-reason").evaluate("node => node.removeAttribute('required')")
    page.locator("#form-stage").get_by_role("button", name="Change stage").click()
    expect(page.locator("#form-stage [role=alert]")).to_contain_text("requires a reason")
    expect(page.locator("h1 .badge")).to_have_text("None")


def test_production_timeline_says_who_promoted_and_why(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/models/churn_predictor")
    entries = page.locator(".timeline li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("Promoted by tomas")
    expect(entries.nth(0)).to_contain_text("recall +4% in shadow test")
    expect(entries.nth(1)).to_contain_text("Promoted by meera")
    expect(entries.nth(1)).to_contain_text("beat the rules engine")
    expect(entries.nth(1)).to_contain_text("Left Production for Archived")


def test_audit_page_shows_the_chain_verified(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/audit")
    expect(page.locator(".verify")).to_contain_text("Chain verified")
    expect(page.locator("table.events tbody tr").first).to_be_visible()
    page.get_by_label("Model").fill("churn_predictor")
    page.get_by_role("button", name="Filter").click()
    models = page.locator("table.events tbody tr td:nth-child(5)")
    expect(models.first).to_have_text("churn_predictor")
    assert set(models.all_inner_texts()) == {"churn_predictor"}


def test_naming_page_flags_a_version_marker_as_you_type(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/naming")
    page.get_by_role("textbox", name="Model name").press_sequentially("fraud_detector_v2", delay=10)
    result = page.locator("#lint-result")
    expect(result).to_contain_text("name.version_marker")
    expect(result.locator(".suggested")).to_have_text("fraud_detector")
    page.get_by_role("textbox", name="Model name").fill("fraud_detector")
    expect(result).to_contain_text("follows the naming policy")
