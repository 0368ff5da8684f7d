"""Signing in to the web UI with a token, in Debian's Chromium, against a real server.

Authentication is on and models are private until granted. ``rita`` reads
fraud_detector, ``mia`` maintains it; a reader is offered no action at all, a
maintainer the stage moves her role allows. The session cookie never holds the token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from tests.e2e.server import running_server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.ui

NAME = "fraud_detector"


def populate(home: Path) -> dict[str, str]:
    settings = Settings.load({"home": home, "auth_enabled": True,
                              "auth_default_role": "none"}, env={})
    service = build_service(settings, actor="operator")
    for number in range(1, 4):
        service.register(NAME, f"runs:/fd{number}/model", run_id=f"fd{number}")
    service.transition(NAME, 1, "Staging", reason="offline validation passed")
    service.transition(NAME, 1, "Production", reason="beat the rules engine")
    service.transition(NAME, 2, "Staging", reason="candidate")
    service.set_model_tag(NAME, "team", "payments")
    service.register("search_ranker", "runs:/sr1/model", run_id="sr1")
    tokens = {}
    for user, role in (("rita", "reader"), ("mia", "maintainer")):
        service.create_user(user)
        service.grant(NAME, user, role)
        tokens[user] = service.create_token(user).secret
    service.db.dispose()
    return tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("ui-access-home")
    tokens = populate(home)
    env = {"CHARTER_AUTH": "on", "CHARTER_AUTH_DEFAULT_ROLE": "none"}
    with running_server(home, extra_env=env) as url:
        yield {"url": url, "tokens": tokens, "home": home}


@pytest.fixture
def context(browser, server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server["url"],
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    context.close()


def sign_in(page, token: str, start: str = "/") -> None:  # type: ignore[no-untyped-def]
    page.goto(start)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def action_forms(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every form on the page but the header's sign-out."""
    return [f for f in page.locator("main form").evaluate_all("fs => fs.map(f => f.id)")]


def test_a_page_sends_you_to_sign_in_and_back_with_a_token(context, server):
    page = context.new_page()
    sign_in(page, server["tokens"]["rita"], f"/models/{NAME}")
    expect(page).to_have_url(re.compile(f"/models/{NAME}"))
    expect(page.locator(".signed-in")).to_contain_text("rita")
    cookie = next(c for c in context.cookies() if c["name"] == "charter_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server["tokens"]["rita"] not in cookie["value"]
    assert not page.evaluate("document.cookie").count("charter_session")


def test_a_reader_is_offered_no_action(context, server):
    page = context.new_page()
    sign_in(page, server["tokens"]["rita"], f"/models/{NAME}")
    expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    assert action_forms(page) == []
    expect(page.get_by_text("Edit description")).to_have_count(0)
    expect(page.get_by_text("Set a tag")).to_have_count(0)
    expect(page.get_by_text("Set an alias")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll back…")).to_have_count(0)
    page.goto(f"/models/{NAME}/versions/2")
    assert action_forms(page) == []
    expect(page.get_by_text(f"Your role on {NAME} does not allow moving it")).to_be_visible()
    # and the model it may not read does not exist for it
    response = page.goto("/models/search_ranker")
    assert response is not None and response.status == 404
    page.goto("/")
    expect(page.locator("main")).not_to_contain_text("search_ranker")


def test_a_maintainer_promotes_through_the_ui_and_the_event_names_her(context, server):
    page = context.new_page()
    sign_in(page, server["tokens"]["mia"], f"/models/{NAME}/versions/2")
    form = page.locator("#form-stage")
    expect(form).to_be_visible()
    form.get_by_role("radio", name=re.compile("Production")).check()
    form.get_by_role("checkbox", name=re.compile("Archive v1")).check()
    form.get_by_label(re.compile("Reason")).fill("recall +4% in shadow test")
    form.get_by_role("button", name="Change stage").click()
    expect(page.locator(".notice")).to_contain_text("Staging → Production")
    events = page.locator("main table").first
    expect(events).to_contain_text("mia")


def test_a_bad_token_is_refused_on_the_sign_in_page(context):
    page = context.new_page()
    sign_in(page, "charter_" + "x" * 43)
    expect(page.get_by_role("alert")).to_contain_text("The token is not valid")
    assert not [c for c in context.cookies() if c["name"] == "charter_session"]


def test_signing_out_ends_the_session(context, server):
    page = context.new_page()
    sign_in(page, server["tokens"]["rita"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/signin"))
    page.goto(f"/models/{NAME}")
    expect(page).to_have_url(re.compile(r"/signin\?next="))


def test_revoking_the_token_ends_its_sessions(context, server):
    settings = Settings.load({"home": server["home"], "auth_enabled": True}, env={})
    service = build_service(settings, actor="operator", migrate=False)
    issued = service.create_token("rita", note="ui session")
    page = context.new_page()
    sign_in(page, issued.secret, f"/models/{NAME}")
    expect(page.locator(".signed-in")).to_contain_text("rita")
    service.revoke_token(issued.record.id)
    service.db.dispose()
    page.goto(f"/models/{NAME}")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
