"""The remote client against a real server, side by side with the embedded registry.

Every flow runs twice, through ``charter.connect(<folder>)`` and through
``charter.connect("http://…")``: same calls, same records, same error classes.
The server is shared by the module, so each test uses its own model names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import charter
from charter.client import RemoteRegistry, iter_models
from charter.domain.errors import (
    AlreadyExists,
    CharterError,
    Conflict,
    InvalidInput,
    NotFound,
)
from charter.domain.naming import Finding
from charter.domain.records import (
    AuditReport,
    EventRecord,
    ModelRecord,
    Page,
    Resolution,
    VersionRecord,
)

pytestmark = pytest.mark.e2e

ACTOR = "release-bot"
SOURCE = "s3://models/artifacts/1"


def staged(registry, name: str, count: int = 1) -> list[int]:
    numbers = []
    for _ in range(count):
        number = registry.register(name, SOURCE).version
        registry.transition(name, number, "Staging", reason="validate")
        numbers.append(number)
    return numbers


def test_connect_with_an_http_url_gives_a_remote_registry(server):
    with charter.connect(server + "/") as remote:
        assert isinstance(remote, RemoteRegistry)
        assert remote.url == server
        assert remote.verify_audit().ok


def test_register_and_read_back_the_same_records(registry):
    version = registry.register("fraud_detector", SOURCE, description="baseline",
                                tags={"algorithm": "xgboost"}, reason="first model")
    assert isinstance(version, VersionRecord)
    assert (version.name, version.version, version.stage, version.uri) == (
        "fraud_detector", 1, "None", "models:/fraud_detector/1")
    assert version.created_at.tzinfo is not None
    assert registry.get_version("fraud_detector", "v1") == version
    model = registry.get_model("Fraud_Detector")
    assert isinstance(model, ModelRecord)
    assert (model.version_count, model.last_version, model.stages) == (1, 1, {"None": [1]})
    assert registry.list_versions("fraud_detector") == [version]
    assert registry.register("fraud_detector", SOURCE).version == 2


def test_promote_into_a_taken_production_is_a_conflict_until_archive_existing(registry):
    name = "payments_risk_model"
    first, second = staged(registry, name, 2)
    registry.promote(name, first, "Production", reason="launch")
    with pytest.raises(Conflict) as refused:
        registry.transition(name, second, "Production", reason="better AUC")
    assert refused.value.code == "stage.production_taken"
    assert refused.value.details == {"production": first, "version": second}
    assert "archive_existing" in refused.value.hint
    assert registry.get_model(name).stages == {"Production": [first], "Staging": [second]}

    promoted = registry.transition(name, second, "production", archive_existing=True,
                                   reason="better AUC")
    assert promoted.stage == "Production"
    assert registry.get_version(name, first).stage == "Archived"
    assert [v.version for v in registry.list_versions(name, stage="Production")] == [second]
    assert [v.version for v in registry.latest_versions(name, ["Production", "Staging"])] == [
        second]


def test_the_production_precondition_lets_only_the_expected_job_win(registry):
    name = "lending_credit_score"
    one, two, three = staged(registry, name, 3)
    with pytest.raises(Conflict) as refused:
        registry.promote(name, one, "Production", expect_production=7)
    assert refused.value.code == "stage.precondition_failed"
    registry.promote(name, one, "Production", expect_production=None)
    registry.promote(name, two, "Production", archive_existing=True, expect_production=one)
    with pytest.raises(Conflict) as stale:
        registry.promote(name, three, "Production", archive_existing=True, expect_production=one)
    assert stale.value.details == {"expected": one, "actual": two}


def test_rollback_brings_back_the_previous_production_version(registry):
    name = "recommendation_ranking"
    one, two = staged(registry, name, 2)
    registry.promote(name, one, "Production")
    registry.promote(name, two, "Production", archive_existing=True)
    with pytest.raises(InvalidInput) as no_reason:
        registry.rollback(name, reason="  ")
    assert no_reason.value.code == "reason.required"
    restored = registry.rollback(name, reason="latency regression")
    assert (restored.version, restored.stage) == (one, "Production")
    assert registry.get_version(name, two).stage == "Staging"
    moves = registry.history(name)[-2:]
    assert [(e.action, e.version) for e in moves] == [("rolled_back", two), ("rolled_back", one)]
    assert moves[0].correlation_id == moves[1].correlation_id
    with pytest.raises(Conflict) as again:
        registry.rollback(name, reason="twice")
    assert again.value.code == "rollback.no_target"


def test_archive_is_a_transition_to_archived(registry):
    name = "churn_forecast"
    (number,) = staged(registry, name)
    assert registry.archive(name, number, reason="rejected").stage == "Archived"


def test_tags_aliases_and_descriptions(registry):
    name = "search_ranking"
    registry.create_model(name, description="web search", tags={"team": "search"})
    registry.register(name, SOURCE)
    registry.register(name, SOURCE)
    registry.set_model_tag(name, "owner", "maria")
    registry.set_model_tag(name, "mlflow.note/source", "a/b")
    registry.delete_model_tag(name, "team")
    registry.set_version_tag(name, 2, "auc", "0.91")
    registry.update_model(name, description="web and app search", reason="scope")
    registry.update_version(name, 2, description="retrained")
    registry.set_alias(name, "champion", 1)
    registry.set_alias(name, "Champion", "v2")
    registry.set_alias(name, "challenger", 1)
    registry.delete_alias(name, "challenger")

    model = registry.get_model(name)
    assert model.tags == {"owner": "maria", "mlflow.note/source": "a/b"}
    assert model.description == "web and app search"
    assert model.aliases == {"champion": 2}
    version = registry.get_version_by_alias(name, "champion")
    assert (version.version, version.tags, version.description, version.aliases) == (
        2, {"auc": "0.91"}, "retrained", ["champion"])
    with pytest.raises(InvalidInput) as reserved:
        registry.set_alias(name, "production", 1)
    assert reserved.value.code == "alias.invalid"
    with pytest.raises(NotFound) as missing:
        registry.delete_model_tag(name, "team")
    assert missing.value.code == "tag.not_found"
    with pytest.raises(NotFound):
        registry.get_version_by_alias(name, "challenger")


def test_resolve_now_as_of_a_past_time_and_for_an_empty_stage(registry):
    name = "credit_limit_estimator"
    one, two = staged(registry, name, 2)
    registry.promote(name, one, "Production")
    time.sleep(0.02)
    between = datetime.now(UTC)
    time.sleep(0.02)
    registry.promote(name, two, "Production", archive_existing=True)
    registry.set_alias(name, "champion", one)

    now = registry.resolve(f"models:/{name}/Production")
    assert isinstance(now, Resolution)
    assert (now.version.version, now.artifact_location, now.uri) == (
        two, SOURCE, f"models:/{name}/Production")
    assert registry.resolve(f"models:/{name}/Production", as_of=between).version.version == one
    assert registry.resolve(f"models:/{name}@champion").version.version == one
    assert registry.resolve(f"models:/{name}/latest").version.version == two
    with pytest.raises(NotFound) as empty:
        registry.resolve(f"models:/{name}/Staging")
    assert empty.value.code == "stage.empty"
    with pytest.raises(NotFound):
        registry.resolve(f"models:/{name}@champion", as_of=between)
    with pytest.raises(InvalidInput) as bad:
        registry.resolve(f"{name}/Production")
    assert bad.value.code == "uri.invalid"


def test_renamed_models_keep_resolving_with_a_warning(registry):
    registry.register("demand_forecast", SOURCE)
    renamed = registry.rename_model("demand_forecast", "inventory_demand", reason="clarity")
    assert renamed.redirects == ["demand_forecast"]
    resolution = registry.resolve("models:/demand_forecast/1")
    assert resolution.version.name == "inventory_demand" and resolution.warnings
    with pytest.raises(AlreadyExists) as taken:
        registry.create_model("demand_forecast")
    assert taken.value.code == "name.redirected"


def test_history_events_and_audit_verify(registry):
    name = "claims_triage"
    start = registry.events(after=0, limit=10_000)
    after = start[-1].seq if start else 0
    staged(registry, name)
    history = registry.history(name)
    assert all(isinstance(e, EventRecord) for e in history)
    assert [e.action for e in history] == ["model_created", "version_registered",
                                           "stage_changed"]
    assert history[-1].actor.startswith(ACTOR) and history[-1].reason == "validate"
    assert history[-1].time.tzinfo is not None
    assert [e.action for e in registry.history(name, version=1)] == ["version_registered",
                                                                      "stage_changed"]
    feed = registry.events(after=after)
    assert [e.seq for e in feed] == list(range(after + 1, after + 4))
    assert registry.events(after=after, limit=1)[0].seq == after + 1
    report = registry.verify_audit()
    assert isinstance(report, AuditReport) and report.ok and report.first_bad_seq is None


def test_delete_rules(registry):
    name = "loan_default_risk"
    one, two = staged(registry, name, 2)
    with pytest.raises(Conflict) as live_version:
        registry.delete_version(name, one, reason="cleanup")
    assert live_version.value.code == "version.not_deletable"
    with pytest.raises(Conflict) as live_model:
        registry.delete_model(name, reason="cleanup")
    assert live_model.value.code == "model.not_deletable"
    registry.archive(name, one, reason="rejected")
    registry.archive(name, two, reason="rejected")
    with pytest.raises(InvalidInput) as no_reason:
        registry.delete_version(name, one, reason="")
    assert no_reason.value.code == "reason.required"
    registry.delete_version(name, one, reason="leaked training data")
    with pytest.raises(NotFound):
        registry.get_version(name, one)
    registry.delete_model(name, reason="replaced")
    with pytest.raises(NotFound) as gone:
        registry.get_model(name)
    assert gone.value.code == "model.not_found"
    assert registry.register(name, SOURCE).version == 3


def test_bad_input_raises_the_same_error_classes(registry):
    with pytest.raises(InvalidInput) as bad_name:
        registry.create_model("fraud_detector_v2")
    assert bad_name.value.code == "name.invalid"
    assert bad_name.value.details["suggested_name"] == "fraud_detector"
    registry.create_model("merchant_risk_score")
    with pytest.raises(AlreadyExists) as exists:
        registry.create_model("merchant_risk_score")
    assert exists.value.code == "model.exists"
    with pytest.raises(InvalidInput) as bad_source:
        registry.register("merchant_risk_score", "file:///etc/passwd")
    assert bad_source.value.code == "source.refused"
    with pytest.raises(Conflict) as illegal:
        registry.transition("merchant_risk_score", registry.register(
            "merchant_risk_score", SOURCE).version, "Production")
    assert illegal.value.code == "stage.illegal_transition"
    with pytest.raises(NotFound):
        registry.register("chargeback_predictor", SOURCE, create_model=False)
    with pytest.raises(InvalidInput) as bad_version:
        registry.get_version("merchant_risk_score", "seven")
    assert bad_version.value.code == "version.invalid"


def test_list_models_pages_and_the_pager_walks_them(registry):
    names = ["ad_click_through", "address_matching", "ad_spend_allocation"]
    for name in names:
        registry.create_model(name)
    page = registry.list_models(name_like="ad", max_results=2)
    assert isinstance(page, Page) and len(page.items) == 2 and page.next_token
    walked = [m.name for m in iter_models(registry, name_like="ad", page_size=2)]
    assert sorted(set(names) & set(walked)) == sorted(names)
    assert walked == sorted(walked)


def test_lint_returns_findings(registry):
    assert registry.lint("fraud_detection_binary") == []
    findings = registry.lint("fraud_detector_v2")
    assert findings and isinstance(findings[0], Finding)
    assert findings[0].code == "name.version_marker"


# ---- remote only ----------------------------------------------------------------------

def test_registering_and_downloading_files_agree_with_the_embedded_registry(
        server, template_home, tmp_path):
    model = tmp_path / "model"
    (model / "data").mkdir(parents=True)
    (model / "model.pkl").write_bytes(bytes(range(256)) * 400)
    (model / "data" / "conf.json").write_text('{"threshold": 0.7}')
    shutil.copytree(template_home, tmp_path / "home")
    embedded = charter.connect(tmp_path / "home", actor=ACTOR)
    with RemoteRegistry(server, actor=ACTOR, cache_dir=tmp_path / "cache") as remote:
        here = embedded.register("support_ticket_routing", path=model)
        there = remote.register("support_ticket_routing", path=model)
        assert (there.files, there.digest, there.status) == (here.files, here.digest, "READY")
        for registry, dest in ((embedded, "from_embedded"), (remote, "from_remote")):
            registry.download(f"models:/support_ticket_routing/{there.version}", tmp_path / dest)
            assert (tmp_path / dest / "data" / "conf.json").read_text() == '{"threshold": 0.7}'
            assert (tmp_path / dest / "model.pkl").read_bytes() == bytes(range(256)) * 400
    embedded.db.dispose()


def test_remote_records_its_actor_as_claimed_but_unverified(server):
    with RemoteRegistry(server, actor="maria") as remote:
        remote.register("price_elasticity", SOURCE)
        assert remote.as_actor("ops").history("price_elasticity")[-1].actor == \
            "maria (unverified)"
        remote.as_actor("ops").set_model_tag("price_elasticity", "team", "pricing")
        assert remote.history("price_elasticity")[-1].actor == "ops (unverified)"


def test_remote_sends_token_actor_and_keeps_the_connection_alive():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "events_checked": 0,
                                         "first_bad_seq": None, "problem": ""})

    remote = RemoteRegistry("http://charter.example:8080/", token="s3cret", actor="ci",
                            transport=httpx.MockTransport(answer))
    remote.verify_audit()
    remote.verify_audit()
    assert [str(r.url) for r in seen] == ["http://charter.example:8080/api/v1/audit/verify"] * 2
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert seen[0].headers["x-charter-actor"] == "ci"
    remote.close()


def test_remote_errors_without_a_kind_are_classified_by_status():
    def answer(request: httpx.Request) -> httpx.Response:
        code = "model.exists" if request.method == "POST" else "stage.production_taken"
        return httpx.Response(409, json={"error": {"code": code, "message": "m", "hint": "h"}})

    remote = RemoteRegistry("http://old.example", transport=httpx.MockTransport(answer))
    with pytest.raises(AlreadyExists):
        remote.create_model("fraud_detector")
    with pytest.raises(Conflict):
        remote.get_model("fraud_detector")


def test_an_unreachable_or_foreign_server_is_a_clear_error():
    with RemoteRegistry("http://127.0.0.1:9", timeout=2) as nowhere:
        with pytest.raises(CharterError) as unreachable:
            nowhere.get_model("fraud_detector")
    assert unreachable.value.code == "server.unreachable"

    foreign = RemoteRegistry("http://proxy.example", transport=httpx.MockTransport(
        lambda request: httpx.Response(502, text="<html>Bad Gateway</html>")))
    with pytest.raises(CharterError) as bad:
        foreign.get_model("fraud_detector")
    assert bad.value.code == "server.bad_answer" and bad.value.details["status"] == 502

    login_page = RemoteRegistry("http://sso.example", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, text="<html>Sign in</html>")))
    with pytest.raises(CharterError) as html:
        login_page.get_model("fraud_detector")
    assert html.value.code == "server.bad_answer" and html.value.details["status"] == 200


# ---- the interface and the docs ------------------------------------------------------

DOCS_PYTHON = Path(__file__).parents[2] / "docs" / "python.md"


@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_the_example_in_docs_python_md_prints_what_the_docs_say(mode, server, tmp_path):
    text = DOCS_PYTHON.read_text()
    example = text.split("## Example", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.DOTALL).group(1)
    output = re.search(r"```text\n(.*?)```", example, re.DOTALL).group(1)
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    env.pop("CHARTER_URL", None)
    env.pop("CHARTER_DATABASE_URL", None)
    if mode == "remote":
        env["CHARTER_URL"] = server
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == output
