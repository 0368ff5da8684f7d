"""The interface on the version page, the page comparing two versions, and accepting a
breaking change from the stage form (in process, httpx over ASGI)."""

from __future__ import annotations

from charter.service import RegistryService
from tests.ui.forms import csrf_token

NAME = "fraud_detector"
V1 = {"inputs": [{"name": "amount", "type": "double"}, {"name": "country", "type": "string"}],
      "outputs": [{"name": "score", "type": "double"}]}
V2 = {"inputs": [{"name": "amount", "type": "double"}],
      "outputs": [{"name": "score", "type": "double"}]}


def breaking_candidate(service: RegistryService) -> None:
    service.register(NAME, "runs:/r1/model", run_id="r1", interface=V1)
    service.register(NAME, "runs:/r2/model", run_id="r2", interface=V2,
                     tags={"team": "risk"})
    for stage in ("Staging", "Production"):
        service.transition(NAME, 1, stage, reason="setup")
    service.transition(NAME, 2, "Staging", reason="setup")


def test_the_version_page_shows_the_interface_and_the_break_against_production(call, service):
    breaking_candidate(service)
    page = call("GET", f"/models/{NAME}/versions/2").text
    assert "data-interface" in page and "<code>amount</code>" in page
    assert 'data-compatibility="breaking"' in page
    assert "input country removed: was string (breaking)" in page
    assert f"/models/{NAME}/diff?a=1&amp;b=2" in page
    assert 'name="accept_breaking"' in page


def test_the_diff_page_lists_interface_files_tags_and_description(call, service):
    breaking_candidate(service)
    page = call("GET", f"/models/{NAME}/diff?a=1&b=2")
    assert page.status_code == 200
    assert "input country removed" in page.text
    assert 'data-diff="tags"' in page.text and "<code>team</code>" in page.text


def test_the_stage_form_refuses_a_break_then_an_owner_accepts_it_with_a_reason(call,
                                                                               service):
    breaking_candidate(service)
    token = csrf_token(call("GET", f"/models/{NAME}/versions/2").text)
    form = {"stage": "Production", "archive_existing": "on", "expect_production": "1",
            "reason": "launch v2", "csrf_token": token}
    refused = call("POST", f"/models/{NAME}/versions/2/stage", data=form)
    assert refused.status_code == 409 and "breaks v1" in refused.text
    assert service.get_version(NAME, 2).stage == "Staging"
    accepted = call("POST", f"/models/{NAME}/versions/2/stage",
                    data={**form, "accept_breaking": "country is no longer sent"})
    assert accepted.status_code == 303
    assert service.get_version(NAME, 2).stage == "Production"
    assert [e.reason for e in service.history(NAME, 2)
            if e.action == "interface_break_accepted"] == ["country is no longer sent"]
