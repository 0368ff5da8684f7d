"""The access rules as pure functions: roles, what each operation needs, the principal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.domain import access
from charter.domain.access import (
    NEEDS,
    Principal,
    Role,
    parse_default_role,
    parse_lifetime,
    parse_role,
    require,
    role_for_move,
)
from charter.domain.errors import InvalidInput, NotFound, PermissionDenied
from charter.domain.lifecycle import DEFAULT_TABLE, STAGES, Stage

MODEL = 7


def user(*, registry: Role | None = None, on_model: Role | None = None,
         admin: bool = False) -> Principal:
    roles = {MODEL: on_model} if on_model else {}
    return Principal("alice", admin=admin, user_id=1, token_id=1, registry_role=registry,
                     model_roles=roles, model_keys={"fraud_detector": MODEL} if roles else {})


def test_roles_are_ordered_reader_contributor_maintainer_owner():
    assert Role.READER < Role.CONTRIBUTOR < Role.MAINTAINER < Role.OWNER
    assert [str(r) for r in access.ROLES] == ["reader", "contributor", "maintainer", "owner"]


@pytest.mark.parametrize("text", ["reader", "Maintainer", " OWNER "])
def test_role_names_are_read_in_any_case(text):
    assert str(parse_role(text)) == text.strip().lower()


@pytest.mark.parametrize("text", ["admin", "", "read", None, 3])
def test_an_unknown_role_is_refused_naming_the_roles(text):
    with pytest.raises(InvalidInput) as raised:
        parse_role(text)
    assert raised.value.code == "role.unknown"
    assert "reader, contributor, maintainer, owner" in raised.value.hint


def test_default_role_none_means_private():
    assert parse_default_role("none") is None
    assert parse_default_role("reader") is Role.READER
    with pytest.raises(InvalidInput):
        parse_default_role("everyone")


# ---- which role each operation needs ---------------------------------------------------

EXPECTED_NEEDS = {
    access.READ: Role.READER, access.REGISTER: Role.CONTRIBUTOR, access.EDIT: Role.CONTRIBUTOR,
    access.ALIAS: Role.MAINTAINER, access.ROLLBACK: Role.MAINTAINER,
    access.RENAME: Role.OWNER, access.DELETE: Role.OWNER, access.GRANT: Role.OWNER,
    access.CREATE_MODEL: Role.CONTRIBUTOR, access.READ_ALL: Role.READER,
    access.METRICS: Role.READER,
}


def test_every_operation_needs_the_documented_role():
    assert dict(NEEDS) == EXPECTED_NEEDS


@pytest.mark.parametrize(("edge", "role"), [
    ((Stage.NONE, Stage.STAGING), Role.CONTRIBUTOR),
    ((Stage.STAGING, Stage.ARCHIVED), Role.CONTRIBUTOR),
    ((Stage.STAGING, Stage.PRODUCTION), Role.MAINTAINER),
    ((Stage.PRODUCTION, Stage.STAGING), Role.MAINTAINER),
    ((Stage.PRODUCTION, Stage.ARCHIVED), Role.MAINTAINER),
    ((Stage.NONE, Stage.ARCHIVED), Role.CONTRIBUTOR),    # a configurable extra edge
])
def test_each_transition_edge_needs_its_role(edge, role):
    assert role_for_move(*edge) is role


def test_every_edge_touching_production_needs_a_maintainer_whatever_the_table():
    for source in STAGES:
        for target in STAGES:
            expected = (Role.MAINTAINER if Stage.PRODUCTION in (source, target)
                        else Role.CONTRIBUTOR)
            assert role_for_move(source, target) is expected
    assert {role_for_move(*e) for e in DEFAULT_TABLE.edges} == {Role.CONTRIBUTOR,
                                                                 Role.MAINTAINER}


# ---- the principal -----------------------------------------------------------------------

def test_a_local_principal_is_an_admin_and_sees_everything():
    local = Principal.local("maria")
    assert local.admin and local.is_local and local.sees_all
    assert local.role_on(123) is Role.OWNER
    assert all(local.may(op, 123) for op in NEEDS)


def test_the_role_on_a_model_is_the_highest_of_grant_and_registry_role():
    assert user(registry=Role.READER, on_model=Role.MAINTAINER).role_on(MODEL) is \
        Role.MAINTAINER
    assert user(registry=Role.CONTRIBUTOR, on_model=Role.READER).role_on(MODEL) is \
        Role.CONTRIBUTOR
    assert user(registry=Role.READER).role_on(99) is Role.READER
    assert user(on_model=Role.OWNER).role_on(99) is None


def test_a_user_without_a_registry_role_sees_only_granted_models():
    private = user(on_model=Role.READER)
    assert not private.sees_all
    assert private.readable_ids() == [MODEL]
    assert private.role_on_name("Fraud_Detector") is Role.READER
    assert private.role_on_name("churn_forecast") is None


@pytest.mark.parametrize("held", list(Role))
@pytest.mark.parametrize("operation", sorted(set(NEEDS) - access.REGISTRY_WIDE))
def test_may_follows_the_table_for_every_role_and_operation(held, operation):
    assert user(on_model=held).may(operation, MODEL) == (held >= NEEDS[operation])


def test_registry_wide_operations_need_the_registry_role_not_a_model_grant():
    assert not user(on_model=Role.OWNER).may(access.CREATE_MODEL)
    assert user(registry=Role.CONTRIBUTOR).may(access.CREATE_MODEL)
    assert not user(registry=Role.READER).may(access.CREATE_MODEL)
    assert user(registry=Role.READER).may(access.READ_ALL)
    assert user(admin=True).may(access.CREATE_MODEL)


def test_require_hides_a_model_the_principal_cannot_read():
    with pytest.raises(NotFound) as raised:
        require(user(), access.READ, model_id=MODEL, model="fraud_detector")
    error = raised.value
    assert (error.code, error.kind) == ("model.not_found", "not_found")
    assert error.message == "No model named 'fraud_detector' is registered"
    assert "did you mean" not in error.hint
    assert error.denied  # type: ignore[attr-defined]


def test_require_refuses_a_readable_model_with_403_naming_both_roles():
    with pytest.raises(PermissionDenied) as raised:
        require(user(on_model=Role.CONTRIBUTOR), access.ROLLBACK, model_id=MODEL,
                model="fraud_detector")
    error = raised.value
    assert error.code == "access.denied"
    assert "contributor" in error.message and "maintainer" in error.message
    assert "charter grant fraud_detector alice maintainer" in error.hint
    assert error.details == {"model": "fraud_detector", "role": "contributor",
                             "needs": "maintainer"}


def test_require_passes_with_enough_role():
    require(user(on_model=Role.MAINTAINER), access.ALIAS, model_id=MODEL, model="m")
    require(user(registry=Role.OWNER), access.DELETE, model_id=MODEL, model="m")


# ---- tokens and names ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "lifetime"), [
    ("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("30d", timedelta(days=30)),
    ("2w", timedelta(weeks=2)), ("never", None), ("", None), (None, None),
])
def test_token_lifetimes(text, lifetime):
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize("text", ["30", "0d", "-1d", "1y", "30 d", "9999d", "1.5h", "d30"])
def test_malformed_lifetimes_are_refused(text):
    with pytest.raises(InvalidInput) as raised:
        parse_lifetime(text)
    assert raised.value.code == "token.expiry_invalid"


def test_only_the_token_shape_looks_like_a_token():
    assert access.looks_like_token("charter_" + "a" * 43)
    for bad in ("charter_" + "a" * 42, "charter_" + "a" * 44, "a" * 51,
                "charter_" + "a" * 42 + "!", "charter_" + "a" * 42 + "\x00"):
        assert not access.looks_like_token(bad)


@pytest.mark.parametrize("name", ["alice", "ci-bot", "svc.deploy", "a@corp", "X1"])
def test_user_names(name):
    assert access.check_user_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "a:b", "a\x00", "é", "a" * 129,
                                  "*"])
def test_bad_user_names_are_refused(name):
    with pytest.raises(InvalidInput):
        access.check_user_name(name)
