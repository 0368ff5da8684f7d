"""The web UI in process (httpx over ASGI): empty state, 404 and error pages, CSRF,
PRG, the lint endpoint. Fast; the browser tests are in test_ui.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.app import create_app
from tests.ui.forms import csrf_token

HTML = {"accept": "text/html,application/xhtml+xml"}


def csrf(call: Callable[..., httpx.Response], path: str) -> str:
    page = call("GET", path)
    assert page.status_code == 200, page.text
    return csrf_token(page.text)


def test_empty_registry_says_how_to_register_a_model(call) -> None:  # type: ignore[no-untyped-def]
    page = call("GET", "/")
    assert page.status_code == 200
    assert "No models yet — register one with" in page.text
    assert "charter register fraud_detector ./model" in page.text


def test_unknown_page_is_an_html_404_for_browsers(call) -> None:  # type: ignore[no-untyped-def]
    page = call("GET", "/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "Back to the registry" in page.text


def test_unknown_model_is_a_404_page_with_the_hint(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    page = call("GET", "/models/fraud_detectr")
    assert page.status_code == 404
    assert "No model named &#39;fraud_detectr&#39; is registered" in page.text
    assert "fraud_detector" in page.text   # the hint: did you mean …?


def test_api_paths_keep_json_errors(call) -> None:  # type: ignore[no-untyped-def]
    answer = call("GET", "/api/v1/no-such-route")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")


def test_a_bad_filter_is_an_error_page_not_a_crash(call) -> None:  # type: ignore[no-untyped-def]
    page = call("GET", "/?stage=Prod")
    assert page.status_code == 400
    assert "is not a stage" in page.text and 'role="alert"' in page.text


def test_form_without_the_csrf_token_is_refused(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    csrf(call, "/models/fraud_detector")
    answer = call("POST", "/models/fraud_detector/tags",
                  data={"key": "team", "value": "fraud", "reason": "x", "csrf_token": "forged"})
    assert answer.status_code == 403
    assert "team" not in service.get_model("fraud_detector").tags


def test_a_change_redirects_and_the_next_page_says_what_happened(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    token = csrf(call, "/models/fraud_detector")
    answer = call("POST", "/models/fraud_detector/tags",
                  data={"key": "team", "value": "fraud", "reason": "ownership",
                        "csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/models/fraud_detector#main"
    assert service.get_model("fraud_detector").tags["team"] == "fraud"
    page = call("GET", "/models/fraud_detector")
    assert "Tag team=fraud set on fraud_detector" in page.text


def test_a_refusal_re_renders_the_form_with_message_and_hint(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    token = csrf(call, "/models/fraud_detector")
    page = call("POST", "/models/fraud_detector/aliases",
                data={"alias": "production", "version": "1", "reason": "x", "csrf_token": token})
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "is reserved and cannot be an alias" in page.text    # the message
    assert "pick a name such as" in page.text                   # the hint
    assert service.get_model("fraud_detector").aliases == {}


def test_only_allowed_moves_are_offered(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    page = call("GET", "/models/fraud_detector/versions/1").text
    assert 'value="Staging"' in page
    assert 'value="Production"' not in page and 'value="Archived"' not in page


def test_lint_endpoint_returns_findings_and_a_suggestion(call) -> None:  # type: ignore[no-untyped-def]
    answer = call("GET", "/ui/lint?name=fraud_detector_v2").json()
    assert answer["ok"] is False
    assert answer["findings"][0]["code"] == "name.version_marker"
    assert answer["suggested_name"] == "fraud_detector"
    assert call("GET", "/ui/lint?name=fraud_detector").json()["ok"] is True


def test_audit_verification_without_javascript_and_as_json(call, service) -> None:  # type: ignore[no-untyped-def]
    service.register("fraud_detector", "runs:/r1/model", run_id="r1")
    assert "Hash chain not checked yet" in call("GET", "/audit").text
    assert "Chain verified" in call("GET", "/audit?verify=1").text
    report = call("GET", "/ui/audit/verify").json()
    assert report["ok"] is True and report["events_checked"] == 2
    assert "proved through event #2" in call("GET", "/audit").text   # the last verified point


def test_the_version_page_names_the_signer_and_the_audit_page_the_last_checkpoint(
        tmp_path: Path) -> None:
    import hashlib
    import json

    from charter.signing.keys import create_key
    from tests.provenance_kit import make_key, model_folder, sign_with_key, statement

    key = create_key(tmp_path / "checkpoint.key")
    settings = Settings.load({"home": tmp_path, "checkpoint_key": str(key.path)}, env={})
    service = build_service(settings, actor="meera")
    folder = model_folder(tmp_path / "model")
    release = make_key(tmp_path / "keys", "release")
    record = service.register("fraud_detector", path=folder,
                              signature=sign_with_key(folder, release, tmp_path / "m.sig"),
                              signer_key=release.public_path)
    service.attest("fraud_detector", 1, json.dumps(statement(
        {"model.pkl": hashlib.sha256(b"weights " * 100).hexdigest()})).encode())
    app = create_app(service, settings)

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://ui.test", headers=HTML) as client:
            return await client.get(path)

    page = asyncio.run(get("/models/fraud_detector/versions/1"))
    assert f"<code class=\"wrap-anywhere\" data-signer>{record.signer}</code>" in page.text
    assert "https://example.com/eval/v1" in page.text and "unsigned" in page.text
    audit = asyncio.run(get("/audit"))
    assert "Last signed checkpoint" in audit.text
    assert service.latest_checkpoint().key_id in audit.text
    service.db.dispose()
