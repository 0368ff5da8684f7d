"""Access control on both databases: users, hashed tokens, grants, and the principal.

The database keeps the invariants: one role per user and model, one registry-wide
role per user, grants that die with their model, tokens stored only as a hash.
The denied-attempts log is a file of bounded size.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from charter.domain.access import Principal, Role
from charter.domain.errors import NotFound, PermissionDenied, Unauthenticated
from charter.store import tables
from charter.store.denials import DenialFile

NAME = "fraud_detector"


@pytest.fixture
def people(registry):
    for user in ("alice", "bob"):
        registry.create_user(user)
    registry.create_user("root", admin=True)
    registry.register(NAME, "s3://models-bucket/fraud/1")
    return registry


def test_a_token_is_stored_only_as_its_sha256(people):
    issued = people.create_token("alice", expires=timedelta(days=1))
    with people.db.read() as session:
        row = session.execute(select(tables.Token)).scalar_one()
        columns = {c: getattr(row, c) for c in tables.Token.__table__.columns.keys()}
    assert row.hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in json.dumps(columns, default=str)
    assert row.prefix == issued.secret[:16]


def test_the_principal_carries_every_role_it_holds(people):
    people.grant(NAME, "alice", "maintainer")
    people.grant("*", "alice", "reader")
    token = people.create_token("alice").secret
    principal = people.authenticate(token)
    model_id = principal.model_keys[NAME]
    assert principal.role_on(model_id) is Role.MAINTAINER
    assert principal.registry_role is Role.READER  # default reader, '*' reader: reader
    assert not principal.admin and principal.name == "alice"


def test_granting_again_replaces_the_role(people):
    people.grant(NAME, "bob", "reader")
    people.grant(NAME, "bob", "owner")
    assert [(g.user, g.role) for g in people.list_grants(NAME)] == [("bob", "owner")]


def test_the_database_keeps_one_role_per_user_and_model(people):
    people.grant(NAME, "bob", "reader")
    people.grant("*", "bob", "reader")
    with people.db.read() as session:
        bob = session.execute(select(tables.User.id).where(tables.User.name == "bob")).scalar()
        alice = session.execute(select(tables.User.id).where(tables.User.name == "alice")
                                ).scalar()
        model = session.execute(select(tables.Model.id)).scalar()
    for model_id in (model, None):
        with pytest.raises(IntegrityError):
            with people.db.engine.begin() as connection:
                connection.execute(insert(tables.Grant).values(
                    user_id=bob, model_id=model_id, role="owner", created_at=datetime.now()))
    with pytest.raises(IntegrityError):  # the role is one of four words
        with people.db.engine.begin() as connection:
            connection.execute(insert(tables.Grant).values(
                user_id=alice, model_id=model, role="admin", created_at=datetime.now()))


def test_deleting_a_model_deletes_its_grants(people):
    people.grant(NAME, "bob", "owner")
    people.transition(NAME, 1, "Staging")
    people.transition(NAME, 1, "Archived")
    people.delete_model(NAME, reason="replaced")
    with people.db.read() as session:
        assert session.execute(select(tables.Grant)).first() is None


def reader_of_one(people):
    """bob, who may read NAME and no other model (his grant without a default role)."""
    people.grant(NAME, "bob", "reader")
    bob = people.as_principal(people.authenticate(people.create_token("bob").secret))
    return bob.as_principal(Principal(
        "bob", user_id=bob.principal.user_id, model_roles=bob.principal.model_roles,
        model_keys=bob.principal.model_keys))


def test_a_private_principal_lists_and_searches_only_its_models(people):
    people.register("churn_forecast", "s3://models-bucket/churn/1")
    private = reader_of_one(people)
    assert [m.name for m in private.list_models().items] == [NAME]
    assert [m.name for m in private.search_models("").items] == [NAME]
    assert {v.name for v in private.search_versions("").items} == {NAME}
    with pytest.raises(NotFound):
        private.get_model("churn_forecast")
    with pytest.raises(PermissionDenied):
        private.events()


def test_the_mlflow_reads_hide_a_model_the_principal_may_not_read(people):
    """The MLflow surface's reads (one statement each on PostgreSQL) refuse a model outside
    the principal's grants exactly as ``get_model`` does, and list only the readable."""
    people.register("churn_forecast", "s3://models-bucket/churn/1")
    people.set_alias("churn_forecast", "champion", 1)
    private = reader_of_one(people)
    with pytest.raises(NotFound) as hidden:
        private.get_model("churn_forecast")
    for read in (lambda: private.model_brief("churn_forecast"),
                 lambda: private.latest_versions("churn_forecast", ["None"]),
                 lambda: private.get_version_by_alias("churn_forecast", "champion"),
                 lambda: private.get_version("churn_forecast", 1)):
        with pytest.raises(NotFound) as raised:
            read()
        assert (raised.value.code, str(raised.value)) == (hidden.value.code, str(hidden.value))
    assert private.model_brief(NAME).name == NAME
    assert [v.version for v in private.latest_versions(NAME)] == [1]
    assert [m.name for m in private.model_briefs("").items] == [NAME]
    assert {v.name for v in private.version_briefs("").items} == {NAME}


def test_a_former_name_of_a_hidden_model_is_refused_without_its_new_name(people):
    """Asked by a former name, a model the principal may not read is refused in the
    asked name, as a model that was never there: its new name is not given away."""
    people.register("churn_forecast", "s3://models-bucket/churn/1")
    people.rename_model("churn_forecast", "churn_predictor", reason="renamed")
    private = reader_of_one(people)
    with pytest.raises(NotFound) as never_there:
        private.get_model("churn_forecaster")
    for read in (lambda: private.get_model("churn_forecast"),
                 lambda: private.model_brief("churn_forecast"),
                 lambda: private.latest_versions("churn_forecast", ["None"]),
                 lambda: private.get_version("churn_forecast", 1),
                 lambda: private.history("churn_forecast"),
                 lambda: private.approve("churn_forecast", 99, "Staging"),
                 lambda: private.reject("churn_forecast", 99, "Staging", comment="no")):
        with pytest.raises(NotFound) as raised:
            read()
        told = json.dumps([str(raised.value), raised.value.hint, raised.value.details])
        assert "churn_predictor" not in told, told
        assert str(raised.value) == str(never_there.value).replace("churn_forecaster",
                                                                     "churn_forecast")
    with pytest.raises(NotFound) as raised:  # a missing version would tell it is there
        private.approve("churn_predictor", 99, "Staging")
    assert (raised.value.code, str(raised.value)) == (
        "model.not_found", str(never_there.value).replace("churn_forecaster", "churn_predictor"))
    assert people.get_model("churn_forecast").name == "churn_predictor"  # followed


def test_revoked_and_expired_tokens_do_not_authenticate(people):
    issued = people.create_token("alice", expires="90m")
    people.revoke_token(issued.record.id)
    with pytest.raises(Unauthenticated) as raised:
        people.authenticate(issued.secret)
    assert raised.value.code == "token.revoked"
    later = people.create_token("alice", expires="90m")
    people.clock = lambda: later.record.created_at + timedelta(minutes=91)
    with pytest.raises(Unauthenticated) as raised:
        people.authenticate(later.secret)
    assert raised.value.code == "token.expired"


def test_sessions_die_with_their_token(people):
    issued = people.create_token("alice")
    secret, _, principal = people.open_session(issued.secret)
    assert people.session_principal(secret).name == "alice"
    assert secret != issued.secret
    people.revoke_token(issued.record.id)
    with pytest.raises(Unauthenticated):
        people.session_principal(secret)


def test_user_and_token_events_are_in_the_chain_without_secrets(people):
    issued = people.create_token("bob")
    actions = [(e.action, e.actor, e.model) for e in people.events(limit=100)
               if e.action in ("user_created", "token_created")]
    assert ("user_created", "tester", "") in actions and ("token_created", "tester", "") in \
        actions
    assert issued.secret not in json.dumps([e.to_dict() for e in people.events(limit=100)])
    assert people.verify_audit().ok


def test_the_denied_attempts_log_never_grows_past_its_cap(tmp_path):
    log = DenialFile(tmp_path / "logs" / "denied.log", max_bytes=20_000, backups=2)
    for number in range(5_000):
        log.record({"actor": "x" * 500, "path": f"/api/v1/models/{number}", "code": "nope"})
    log.close()
    files = sorted((tmp_path / "logs").iterdir())
    assert [f.name for f in files] == ["denied.log", "denied.log.1", "denied.log.2"]
    assert sum(f.stat().st_size for f in files) <= 3 * 20_000
    last = json.loads((tmp_path / "logs" / "denied.log").read_text().splitlines()[-1])
    assert last["path"] == "/api/v1/models/4999" and len(last["actor"]) <= 201


def test_a_refused_registration_gives_out_no_version_number(people):
    # The number is taken with the model's row before the rights check
    # (models.take_next_number); the refusal must give it back, alone or in a group commit.
    people.grant(NAME, "bob", "reader")
    bob = people.as_principal(people.authenticate(people.create_token("bob").secret))
    with pytest.raises(PermissionDenied):
        bob.register(NAME, "s3://models-bucket/fraud/2", create_model=False)
    refused = people.db.batched(lambda: bob.register(NAME, "s3://models-bucket/fraud/2",
                                                     create_model=False))
    with pytest.raises(PermissionDenied):
        refused.result(timeout=30)
    assert people.register(NAME, "s3://models-bucket/fraud/2").version == 2
