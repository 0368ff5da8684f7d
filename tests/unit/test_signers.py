"""Signer identities and the signer-continuity rule of a name, as tables of cases."""

from __future__ import annotations

import pytest

from charter.domain.errors import Conflict, InvalidInput
from charter.domain.signers import (
    CERTIFICATE,
    KEY,
    Signer,
    UnknownSigner,
    Verdict,
    check_signer_edit,
    judge_signer,
    parse_signer,
    parse_signers,
    parse_unknown_signer,
)

ALICE = Signer(KEY, "sha256:" + "a" * 64)
BOB = Signer(KEY, "sha256:" + "b" * 64)
BOT = Signer(CERTIFICATE, "CN=release-bot,O=Acme")


@pytest.mark.parametrize(("text", "expected"), [
    ("key:sha256:" + "a" * 64, ALICE),
    ("  key:sha256:" + "A" * 64 + " ", ALICE),                  # hex is case-insensitive
    ("certificate:CN=release-bot,O=Acme", BOT),
    ("certificate: CN=release-bot,O=Acme ", BOT),
])
def test_signers_parse_to_one_canonical_form(text: str, expected: Signer) -> None:
    assert parse_signer(text) == expected
    assert parse_signer(str(expected)) == expected


@pytest.mark.parametrize("text", [
    "", "key:", "key:sha256:abc", "key:md5:" + "a" * 32, "key:sha256:" + "g" * 64,
    "certificate:", "certificate:CN=a\x00b", "certificate:" + "x" * 1001, "pgp:ABCDEF",
    "sha256:" + "a" * 64, None, 42,
])
def test_malformed_signers_are_refused_with_the_forms_in_the_hint(text: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_signer(text)
    assert refused.value.code == "signer.invalid"
    assert "key:sha256:" in refused.value.hint and "certificate:" in refused.value.hint


def test_a_list_of_signers_is_deduplicated_and_bounded() -> None:
    assert parse_signers([str(BOB), str(ALICE), str(ALICE)], where="x") == (ALICE, BOB)
    with pytest.raises(InvalidInput):
        parse_signers(str(ALICE), where="x")
    with pytest.raises(InvalidInput):
        parse_signers([str(ALICE)] * 51, where="x")


# allowed, signer, mode -> verdict, or the refusal's code
CONTINUITY = [
    ((), None, UnknownSigner.REFUSE, Verdict.ACCEPT),              # unsigned, nothing pinned
    ((), ALICE, UnknownSigner.REFUSE, Verdict.PIN),                # the first signed version
    ((ALICE,), ALICE, UnknownSigner.REFUSE, Verdict.ACCEPT),
    ((ALICE, BOT), BOT, UnknownSigner.REFUSE, Verdict.ACCEPT),
    ((ALICE,), BOB, UnknownSigner.REFUSE, "signer.unknown"),
    ((ALICE,), BOB, UnknownSigner.HOLD, Verdict.HOLD),
    ((ALICE,), None, UnknownSigner.REFUSE, "signature.required"),  # unsigned after pinning
    ((ALICE,), None, UnknownSigner.HOLD, "signature.required"),    # never held: nothing to admit
]


@pytest.mark.parametrize(("allowed", "signer", "mode", "expected"), CONTINUITY)
def test_signer_continuity(allowed: tuple[Signer, ...], signer: Signer | None,
                           mode: UnknownSigner, expected: Verdict | str) -> None:
    if isinstance(expected, Verdict):
        assert judge_signer("fraud_detector", set(allowed), signer, mode) is expected
        return
    with pytest.raises(Conflict) as refused:
        judge_signer("fraud_detector", set(allowed), signer, mode)
    assert refused.value.code == expected
    assert "fraud_detector" in refused.value.message and str(ALICE) in refused.value.message
    assert refused.value.hint


def test_the_unknown_signer_refusal_names_the_signer_and_how_to_allow_it() -> None:
    with pytest.raises(Conflict) as refused:
        judge_signer("fraud_detector", {ALICE}, BOB, UnknownSigner.REFUSE)
    assert str(BOB) in refused.value.message
    assert f"charter signers add fraud_detector {BOB}" in refused.value.hint
    assert refused.value.details == {"signer": str(BOB), "allowed": [str(ALICE)]}


@pytest.mark.parametrize(("value", "expected"), [
    ("refuse", UnknownSigner.REFUSE), ("HOLD", UnknownSigner.HOLD), (" hold ", UnknownSigner.HOLD)])
def test_unknown_signer_setting(value: str, expected: UnknownSigner) -> None:
    assert parse_unknown_signer(value, where="[signing]") is expected


def test_a_bad_unknown_signer_setting_names_both_choices() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_unknown_signer("ask", where="[signing]")
    assert "refuse" in refused.value.hint and "hold" in refused.value.hint


@pytest.mark.parametrize(("current", "add", "remove", "expected"), [
    ((), (ALICE,), (), (ALICE,)),
    ((ALICE,), (BOB,), (ALICE,), (BOB,)),
    ((ALICE, BOB), (), (BOB, ALICE), ()),
    ((ALICE,), (ALICE,), (), "signer.exists"),
    ((ALICE,), (), (BOB,), "signer.not_allowed"),
])
def test_owner_edits_of_allowed_signers_always_change_something(
        current: tuple[Signer, ...], add: tuple[Signer, ...], remove: tuple[Signer, ...],
        expected: tuple[Signer, ...] | str) -> None:
    if isinstance(expected, tuple):
        assert check_signer_edit("m", set(current), add, remove) == expected
        return
    with pytest.raises(Conflict) as refused:
        check_signer_edit("m", set(current), add, remove)
    assert refused.value.code == expected


def test_the_signing_policy_reads_a_default_and_per_model_overrides() -> None:
    from charter.domain.signers import parse_signing_policy

    policy = parse_signing_policy({"signing": {"unknown_signer": "hold"},
                                   "models": {"Fraud_Detector": {"signing": {
                                       "unknown_signer": "refuse"}}, "other": {"gates": {}}}})
    assert policy.unknown_signer_for("anything") is UnknownSigner.HOLD
    assert policy.unknown_signer_for("fraud_detector") is UnknownSigner.REFUSE
    assert policy.unknown_signer_for("renamed", former=["fraud_detector"]) is UnknownSigner.REFUSE
    assert parse_signing_policy({}).unknown_signer_for("x") is UnknownSigner.REFUSE


@pytest.mark.parametrize("config", [
    {"signing": {"unknown": "hold"}}, {"signing": "hold"}, {"signing": {"unknown_signer": "ask"}},
    {"models": {"m": {"signing": {"certificate_roots": []}}}},
])
def test_a_bad_signing_section_is_refused(config: dict[str, object]) -> None:
    from charter.domain.signers import parse_signing_policy

    with pytest.raises(InvalidInput) as refused:
        parse_signing_policy(config)
    assert refused.value.code == "config.invalid"
