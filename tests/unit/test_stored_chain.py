"""The audit walk's fast path over stored rows gives the same verdict as recomputing every
field (domain.events.stored_hash_matches, domain.checkpoints.prove_stored_log)."""

from __future__ import annotations

import pytest

from charter.domain.checkpoints import prove_stored_log
from charter.domain.events import (
    GENESIS_HASH,
    NewEvent,
    StoredRow,
    canonical_json,
    chain_hash,
    hashed_fields,
    stored_hash_matches,
)

EVENTS = [
    NewEvent("model_created", "fraud_detector", reason="new product"),
    NewEvent("tag_set", "Frâud_détecteur", 3, payload={"key": "é\"\\\n", "value": "☃"}),
    NewEvent("stage_changed", "fraud_detector", 1, "None", "Staging", "reason with \t tab",
             {"z": [1, 2.5, None, True], "a": {"nested": "\u2028"}}),
    NewEvent("alias_set", "fraud_detector", None, None, None, "", {}),
]


def _chain() -> list[StoredRow]:
    rows: list[StoredRow] = []
    prev = GENESIS_HASH
    for seq, event in enumerate(EVENTS, start=1):
        time = f"2026-12-06T10:00:0{seq}.000000Z"
        fields = hashed_fields(seq=seq, time=time, actor="meera", event=event,
                               correlation_id="c" * 32)
        digest = chain_hash(prev, fields)
        rows.append((seq, time, "meera", event.action, event.model, event.version,
                     event.from_stage, event.to_stage, event.reason, "c" * 32,
                     canonical_json(event.payload), prev, digest))
        prev = digest
    return rows


def test_every_stored_event_matches_its_hash_on_the_fast_path():
    rows = _chain()
    assert all(stored_hash_matches(row[11], row) for row in rows)
    proof = prove_stored_log([rows[:2], rows[2:]], trusted_keys=(), signature_ok=lambda _: True)
    assert (proof.ok, proof.events_checked, proof.last_hash) == (True, 4, rows[-1][12])


def test_a_payload_stored_in_another_json_spelling_still_verifies_by_the_slow_path():
    row = _chain()[2]
    spaced = row[:10] + ('{"z": [1, 2.5, null, true], "a": {"nested": "\\u2028"}}',) + row[11:]
    assert stored_hash_matches(row[11], spaced)


@pytest.mark.parametrize("index, value", [(2, "someone-else"), (8, "edited"), (5, 9),
                                          (10, '{"key":"x"}'), (10, "not json"), (7, "Archived")])
def test_any_altered_stored_field_fails_both_paths(index, value):
    row = _chain()[1]
    altered = row[:index] + (value,) + row[index + 1:]
    assert not stored_hash_matches(row[11], altered)  # type: ignore[arg-type]


def test_a_walk_resumes_from_a_proved_point_and_names_the_first_bad_event():
    rows = _chain()
    start = (2, rows[1][12])
    assert prove_stored_log([rows[2:]], start=start, trusted_keys=(),
                            signature_ok=lambda _: True).ok
    bad = rows[3][:8] + ("Production",) + rows[3][9:]
    proof = prove_stored_log([[rows[2], bad]], start=start, trusted_keys=(),
                             signature_ok=lambda _: True)
    assert proof.broken is not None and proof.broken.seq == 4
    wrong_start = prove_stored_log([rows[2:]], start=(2, "f" * 64), trusted_keys=(),
                                   signature_ok=lambda _: True)
    assert wrong_start.broken is not None and wrong_start.broken.seq == 3
