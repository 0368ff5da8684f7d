"""Access control through the native REST API: roles × operations, hiding, tokens, audit.

The app runs in process over a real service with authentication on and
``default_role = "none"`` (see ``access_world``); every case serves a fresh copy of
the same registry, so a case may change anything.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from tests.api.access_world import CHURN, FRAUD, HIDDEN, ROLES, Clock

from charter.domain.access import Role

API = "/api/v1"
M = f"{API}/models/{FRAUD}"




@pytest.fixture
def client(fresh):
    return fresh[1]


# ---- the matrix -------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    name: str
    needs: Role
    method: str
    path: str
    body: dict[str, Any] | None = None
    status: int = 200


OPERATIONS = [
    Op("read the model", Role.READER, "GET", M),
    Op("list versions", Role.READER, "GET", M + "/versions"),
    Op("read a version", Role.READER, "GET", M + "/versions/1"),
    Op("read history", Role.READER, "GET", M + "/history"),
    Op("latest versions", Role.READER, "GET", M + "/latest"),
    Op("resolve Production", Role.READER, "GET",
       f"{API}/resolve?uri=models:/{FRAUD}/Production"),
    Op("read an alias", Role.READER, "GET", M + "/aliases/champion"),
    Op("list grants", Role.READER, "GET", M + "/grants"),
    Op("register a version", Role.CONTRIBUTOR, "POST", M + "/versions",
       {"source": "s3://models/fraud/5"}, 201),
    Op("describe the model", Role.CONTRIBUTOR, "PATCH", M, {"description": "card fraud"}),
    Op("describe a version", Role.CONTRIBUTOR, "PATCH", M + "/versions/3",
       {"description": "retrained"}),
    Op("set a model tag", Role.CONTRIBUTOR, "PUT", M + "/tags/owner", {"value": "risk"}, 204),
    Op("delete a model tag", Role.CONTRIBUTOR, "DELETE", M + "/tags/team", None, 204),
    Op("set a version tag", Role.CONTRIBUTOR, "PUT", M + "/versions/1/tags/auc",
       {"value": "0.91"}, 204),
    Op("None -> Staging", Role.CONTRIBUTOR, "POST", M + "/versions/3/transition",
       {"stage": "Staging"}),
    Op("Staging -> Archived", Role.CONTRIBUTOR, "POST", M + "/versions/2/transition",
       {"stage": "Archived"}),
    Op("Staging -> Production", Role.MAINTAINER, "POST", M + "/versions/2/transition",
       {"stage": "Production", "archive_existing": True, "reason": "better"}),
    Op("Production -> Staging", Role.MAINTAINER, "POST", M + "/versions/1/transition",
       {"stage": "Staging"}),
    Op("Production -> Archived", Role.MAINTAINER, "POST", M + "/versions/1/transition",
       {"stage": "Archived"}),
    Op("roll back", Role.MAINTAINER, "POST", M + "/rollback", {"reason": "latency"}),
    Op("set an alias", Role.MAINTAINER, "PUT", M + "/aliases/challenger", {"version": 2}, 204),
    Op("delete an alias", Role.MAINTAINER, "DELETE", M + "/aliases/champion", None, 204),
    Op("rename the model", Role.OWNER, "POST", M + "/rename",
       {"new_name": "card_fraud_detector"}),
    Op("delete a version", Role.OWNER, "DELETE", M + "/versions/4", {"reason": "gone"}, 204),
    Op("delete the model", Role.OWNER, "DELETE", f"{API}/models/{CHURN}",
       {"reason": "replaced"}, 204),
    Op("grant a role", Role.OWNER, "PUT", M + "/grants/nina", {"role": "reader"}),
    Op("revoke a role", Role.OWNER, "DELETE", M + "/grants/rita", None, 204),
]
USERS = [*ROLES, "nina", "ada"]


def held(user: str) -> Role | None:
    if user == "ada":
        return Role.OWNER  # an admin may do everything
    return Role[ROLES[user].upper()] if user in ROLES else None


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_each_role_may_do_exactly_what_the_table_says(world, fresh, op, user):
    service, client = fresh
    before = service.events(limit=10_000)[-1].seq
    response = client.request(op.method, op.path, json=op.body, headers=world.auth(user))
    role = held(user)
    if role is not None and role >= op.needs:
        assert response.status_code == op.status, response.text
        if op.method != "GET":
            last = service.events(limit=10_000)[-1]
            assert last.seq > before and last.actor == user  # the event names its actor
        return
    # A registration may create its model: without a role on it, the caller is refused
    # the creation (403), as for any unused name, and never learns that the model exists.
    creates = (op.method, op.path) == ("POST", M + "/versions")
    expected = (404, "model.not_found") if role is None and not creates else (
        403, "access.denied")
    assert (response.status_code, response.json()["error"]["code"]) == expected, response.text
    assert service.events(limit=10_000)[-1].seq == before  # nothing changed


def test_a_refusal_names_the_role_held_and_the_role_needed(world, client):
    response = client.post(M + "/versions/2/transition", headers=world.auth("cory"),
                           json={"stage": "Production", "archive_existing": True})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["kind"] == "forbidden"
    assert error["message"] == ("cory is contributor on fraud_detector; to move v2 from "
                                "Staging to Production needs maintainer")
    assert "charter grant fraud_detector cory maintainer" in error["hint"]


# ---- what a caller may not see does not exist -------------------------------------------

def strip_name(body: dict[str, Any], name: str) -> str:
    body["error"].pop("request_id", None)  # each answer has its own
    return json.dumps(body).replace(name, "NAME")


def test_a_hidden_model_answers_exactly_like_a_missing_one(world, client):
    for path in ("", "/versions", "/versions/1", "/history", "/latest", "/grants",
                 "/aliases/champion"):
        hidden = client.get(f"{API}/models/{HIDDEN}{path}", headers=world.auth("rita"))
        missing = client.get(f"{API}/models/no_such_thing{path}", headers=world.auth("rita"))
        assert hidden.status_code == missing.status_code == 404
        assert strip_name(hidden.json(), HIDDEN) == strip_name(missing.json(), "no_such_thing")
    # (registering, which may create the model, is tests/api/test_access_oracle.py's)
    for method, path, body in (("PATCH", "", {"description": "x"}),
                               ("DELETE", "", {"reason": "x"}),
                               ("POST", "/versions/1/transition", {"stage": "Staging"})):
        response = client.request(method, f"{API}/models/{HIDDEN}{path}", json=body,
                                  headers=world.auth("rita"))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "model.not_found"


def test_a_misspelt_name_never_suggests_a_model_the_caller_cannot_read(world, client):
    response = client.get(f"{API}/models/search_rankr", headers=world.auth("rita"))
    assert response.status_code == 404
    assert HIDDEN not in response.text
    # an admin gets the helpful hint
    response = client.get(f"{API}/models/search_rankr", headers=world.auth("ada"))
    assert HIDDEN in response.json()["error"]["hint"]


def test_listings_show_only_readable_models(world, client):
    def names(user: str) -> list[str]:
        response = client.get(f"{API}/models", headers=world.auth(user))
        assert response.status_code == 200, response.text
        return [m["name"] for m in response.json()["models"]]

    assert names("rita") == [CHURN, FRAUD]
    assert names("nina") == []
    assert names("ada") == [CHURN, FRAUD, HIDDEN]
    assert names("cici") == [CHURN, FRAUD, HIDDEN]   # a registry-wide role reads everything


def test_resolve_and_history_of_a_hidden_model_are_404(world, client):
    response = client.get(f"{API}/resolve", params={"uri": f"models:/{HIDDEN}/1"},
                          headers=world.auth("otto"))
    assert response.status_code == 404


def test_the_whole_event_feed_and_audit_check_need_a_registry_wide_role(world, client):
    for path in ("/events", "/audit/verify"):
        refused = client.get(API + path, headers=world.auth("otto"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "access.denied"
        assert client.get(API + path, headers=world.auth("cici")).status_code == 200
        assert client.get(API + path, headers=world.auth("ada")).status_code == 200


def test_with_default_role_reader_every_signed_in_user_reads_but_cannot_write(world, tmp_path):
    service, client = world.fresh(tmp_path, auth_default_role="reader")
    assert client.get(f"{API}/models/{HIDDEN}", headers=world.auth("nina")).status_code \
        == 200
    response = client.put(f"{API}/models/{HIDDEN}/tags/x", json={"value": "y"},
                          headers=world.auth("nina"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "access.denied"


# ---- creating models, and who owns them ------------------------------------------------

def test_creating_a_model_needs_a_registry_wide_contributor_role(world, fresh):
    service, client = fresh
    for user in ("otto", "nina", "rita"):
        response = client.post(f"{API}/models", json={"name": "lending_credit_score"},
                               headers=world.auth(user))
        assert response.status_code == 403, response.text
        assert "charter grant '*'" in response.json()["error"]["hint"]
    response = client.post(f"{API}/models/lending_credit_score/versions",
                           json={"source": "s3://models/l/1"}, headers=world.auth("nina"))
    assert response.status_code == 403


def test_the_creator_of_a_model_becomes_its_owner_by_an_audit_event(world, fresh):
    service, client = fresh
    created = client.post(f"{API}/models", json={"name": "lending_credit_score"},
                          headers=world.auth("cici"))
    assert created.status_code == 201, created.text
    me = client.get(f"{API}/whoami", headers=world.auth("cici")).json()
    assert me["models"] == {"lending_credit_score": "owner"}
    history = client.get(f"{API}/models/lending_credit_score/history",
                         headers=world.auth("cici")).json()["events"]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("model_created", "cici"), ("access_granted", "cici")]
    assert history[1]["payload"]["role"] == "owner"
    # the owner may now delete it: the grant is real
    deleted = client.request("DELETE", f"{API}/models/lending_credit_score",
                             json={"reason": "test"}, headers=world.auth("cici"))
    assert deleted.status_code == 204, deleted.text


def test_grants_follow_a_renamed_model_and_die_with_a_deleted_one(world, fresh):
    service, client = fresh
    renamed = client.post(M + "/rename", json={"new_name": "card_fraud"},
                          headers=world.auth("otto"))
    assert renamed.status_code == 200, renamed.text
    assert client.get(f"{API}/models/card_fraud", headers=world.auth("rita")).status_code \
        == 200
    client.request("DELETE", f"{API}/models/{CHURN}", json={"reason": "x"},
                   headers=world.auth("otto"))
    service.register(CHURN, "s3://models/churn/2")  # the name again, by the local admin
    assert client.get(f"{API}/models/{CHURN}", headers=world.auth("otto")).status_code == 404


# ---- grants are audit events ------------------------------------------------------------

def test_grants_and_revocations_are_audit_events_with_their_actor(world, fresh):
    service, client = fresh
    granted = client.put(M + "/grants/nina", json={"role": "maintainer", "reason": "on call"},
                         headers=world.auth("otto"))
    assert granted.json() == {**granted.json(), "model": FRAUD, "user": "nina",
                              "role": "maintainer"}
    assert client.get(M, headers=world.auth("nina")).status_code == 200
    revoked = client.request("DELETE", M + "/grants/nina", json={"reason": "rotation over"},
                             headers=world.auth("otto"))
    assert revoked.status_code == 204
    assert client.get(M, headers=world.auth("nina")).status_code == 404
    events = [e for e in service.history(FRAUD) if e.action.startswith("access_")][-2:]
    assert [(e.action, e.actor, e.reason, e.payload) for e in events] == [
        ("access_granted", "otto", "on call",
         {"user": "nina", "role": "maintainer", "previous": None}),
        ("access_revoked", "otto", "rotation over", {"user": "nina", "previous": "maintainer"}),
    ]
    assert service.verify_audit().ok


def test_registry_wide_grants_are_for_admins(world, fresh):
    service, client = fresh
    refused = client.put(f"{API}/grants/nina", json={"role": "reader"},
                         headers=world.auth("otto"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "access.admin_only"
    granted = client.put(f"{API}/grants/nina", json={"role": "reader"},
                         headers=world.auth("ada"))
    assert granted.json()["model"] == "*"
    assert client.get(f"{API}/models/{HIDDEN}", headers=world.auth("nina")).status_code == 200
    event = service.events(limit=10_000)[-1]
    assert (event.action, event.actor, event.model) == ("access_granted", "ada", "")


def test_granting_to_an_unknown_user_or_an_unknown_role_is_refused(world, client):
    response = client.put(M + "/grants/nobody", json={"role": "reader"},
                          headers=world.auth("otto"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "user.not_found")
    response = client.put(M + "/grants/nina", json={"role": "admin"},
                          headers=world.auth("otto"))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "role.unknown")


def test_every_event_records_a_verified_actor(world, fresh):
    service, client = fresh
    for user, op in (("cory", ("POST", M + "/versions/3/transition", {"stage": "Staging"})),
                     ("mia", ("POST", M + "/rollback", {"reason": "slow"}))):
        method, path, body = op
        headers = {**world.auth(user), "X-Charter-Actor": "someone-else"}
        assert client.request(method, path, json=body, headers=headers).status_code == 200
    actors = [e.actor for e in service.events(limit=10_000)[-3:]]
    assert actors == ["cory", "mia", "mia"]  # the claimed header is ignored with a token


# ---- tokens: missing, malformed, unknown, revoked, expired ---------------------------------

def unauthenticated(response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="charter"'
    error = response.json()["error"]
    assert (error["kind"], error["code"]) == ("unauthenticated", code)
    assert error["message"] and error["hint"]


@pytest.mark.parametrize(("header", "code"), [
    (None, "auth.required"),
    ("Bearer", "token.malformed"),
    ("Bearer ", "token.malformed"),
    ("Bearer not-a-token", "token.malformed"),
    ("Bearer charter_" + "A" * 42, "token.malformed"),
    (("Bearer charter_" + "A" * 42 + "\u00e9").encode("latin-1"), "token.malformed"),
    (b"Bearer charter_" + b"A" * 42 + b"\x00", "token.malformed"),
    ("Bearer charter_" + "A" * 43, "token.invalid"),
    ("Token abc", "auth.malformed"),
    ("Basic !!!", "auth.malformed"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "auth.malformed"),
    ("Basic " + base64.b64encode(b":charter_x").decode(), "auth.malformed"),
])
def test_missing_and_malformed_credentials_answer_401(client, header, code):
    headers = {"Authorization": header} if header is not None else {}
    unauthenticated(client.get(f"{API}/models", headers=headers), code)


def test_a_revoked_token_is_refused_at_once(world, fresh):
    service, client = fresh
    tokens = client.get(f"{API}/tokens", headers=world.auth("rita")).json()["tokens"]
    assert [t["user"] for t in tokens] == ["rita"] and "token" not in tokens[0]
    revoked = client.delete(f"{API}/tokens/{tokens[0]['id']}", headers=world.auth("rita"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    unauthenticated(client.get(M, headers=world.auth("rita")), "token.revoked")
    event = service.events(limit=10_000)[-1]
    assert (event.action, event.actor, event.payload["user"]) == ("token_revoked", "rita",
                                                                   "rita")
    assert world.tokens["rita"] not in json.dumps(event.to_dict())


def test_an_expired_token_is_refused(world, tmp_path):
    clock = Clock()
    service, client = world.fresh(tmp_path, clock=clock)
    issued = client.post(f"{API}/tokens", json={"expires": "90m"},
                         headers=world.auth("mia")).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get(M, headers=headers).status_code == 200
    clock.offset_s = 91 * 60
    unauthenticated(client.get(M, headers=headers), "token.expired")
    assert client.get(M, headers=world.auth("mia")).status_code == 200  # no expiry


def test_a_new_token_is_shown_once_and_stored_hashed(world, fresh):
    service, client = fresh
    issued = client.post(f"{API}/tokens", json={"note": "CI"}, headers=world.auth("cory"))
    assert issued.status_code == 201
    secret = issued.json()["token"]
    assert secret.startswith("charter_") and len(secret) == 51
    assert issued.json()["prefix"] == secret[:16]
    listed = client.get(f"{API}/tokens", headers=world.auth("cory")).json()["tokens"]
    assert secret not in json.dumps(listed)
    raw = (service.db.engine.raw_connection())
    try:
        dump = "\n".join(raw.iterdump())  # type: ignore[attr-defined]
    finally:
        raw.close()
    assert secret not in dump and secret[16:] not in dump
    assert client.get(M, headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_tokens_of_others_are_an_admins_business(world, client):
    refused = client.post(f"{API}/tokens", json={"user": "otto"}, headers=world.auth("mia"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "access.admin_only")
    refused = client.get(f"{API}/tokens", params={"user": "otto"}, headers=world.auth("mia"))
    assert refused.status_code == 403
    otto_ids = [t["id"] for t in client.get(f"{API}/tokens",
                                            headers=world.auth("otto")).json()["tokens"]]
    # someone else's token id answers as if it did not exist
    response = client.delete(f"{API}/tokens/{otto_ids[0]}", headers=world.auth("mia"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "token.not_found")
    made = client.post(f"{API}/tokens", json={"user": "otto"}, headers=world.auth("ada"))
    assert made.status_code == 201 and made.json()["user"] == "otto"


def test_basic_credentials_need_the_tokens_own_user(world, client):
    def basic(user: str, token: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()
                                                             ).decode()}

    assert client.get(M, headers=basic("rita", world.tokens["rita"])).status_code == 200
    assert client.get(M, headers=basic("RITA", world.tokens["rita"])).status_code == 200
    unauthenticated(client.get(M, headers=basic("otto", world.tokens["rita"])),
                    "token.user_mismatch")
    unauthenticated(client.get(M, headers=basic("rita", "password1234")), "token.malformed")


def test_health_and_the_api_description_stay_public(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz", headers={"Authorization": "Bearer junk"}).status_code == 200
    assert client.get(f"{API}/openapi.json").status_code == 200


def test_unknown_api_paths_ask_for_a_token_before_saying_404(client):
    unauthenticated(client.get(f"{API}/no/such/route"), "auth.required")


def test_there_is_no_sign_up_and_no_default_credential(client):
    for user, password in (("admin", "password1234"), ("admin", "admin"), ("root", "")):
        header = base64.b64encode(f"{user}:{password}".encode()).decode()
        response = client.get(f"{API}/models", headers={"Authorization": f"Basic {header}"})
        assert response.status_code == 401
    assert client.post(f"{API}/users", json={"name": "eve"}).status_code == 401
    for path in ("/api/2.0/mlflow/users/create", "/signup"):
        response = client.post(path, json={"username": "eve", "password": "x"},
                               follow_redirects=False)
        assert response.status_code in (401, 303)


def test_the_web_ui_sends_a_browser_without_a_session_to_sign_in(client):
    response = client.get(f"/models/{FRAUD}?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=/models/{FRAUD}%3Fx%3D1"


# ---- denied attempts are logged ---------------------------------------------------------

def test_denied_attempts_are_logged_without_secrets(world, fresh, tmp_path):
    service, client = fresh
    client.get(M, headers={"Authorization": "Bearer charter_" + "Z" * 43})
    client.post(M + "/rollback", json={"reason": "x"}, headers=world.auth("cory"))
    client.get(f"{API}/models/{HIDDEN}", headers=world.auth("rita"))
    lines = [json.loads(line) for line in
             (tmp_path / "logs" / "denied.log").read_text().splitlines()]
    assert [(e["code"], e.get("actor")) for e in lines] == [
        ("token.invalid", None), ("access.denied", "cory"), ("model.not_found", "rita")]
    assert lines[0]["path"] == M and lines[0]["method"] == "GET"
    assert lines[1]["operation"] == "rollback" and lines[1]["needs"] == "maintainer"
    text = (tmp_path / "logs" / "denied.log").read_text()
    assert all(token not in text for token in world.tokens.values())
