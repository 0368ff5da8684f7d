"""Provenance rows: a model's allowed signers, the attestations of its versions, and the
checkpoints recorded in the chain. Plain SQL on the driver's connection (store/driver.py).

A version's own signer and signature bundle are columns of ``versions`` (store/versions.py);
attestations are immutable (store/triggers.py) and their documents live in the blob store,
named by sha256, like version files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from charter.domain.events import CHECKPOINT_SIGNED
from charter.domain.records import AttestationRecord, SignerRecord
from charter.store.driver import Conn, placeholders, reader_for, sql_time, stored_time
from charter.store.events import settled

# ---- allowed signers ----------------------------------------------------------------


def allowed_signers(conn: Conn, model_id: int) -> list[SignerRecord]:
    return [SignerRecord(signer, public_key, added_by, stored_time(added_at))
            for signer, public_key, added_by, added_at in reader_for(conn).all(
                "SELECT signer, public_key, added_by, added_at FROM allowed_signers "
                "WHERE model_id = ? ORDER BY signer", (model_id,))]


def add_signer(conn: Conn, model_id: int, signer: str, public_key: str, actor: str,
               now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("INSERT INTO allowed_signers (model_id, signer, public_key, added_by, added_at) "
               "VALUES (?, ?, ?, ?, ?)", (model_id, signer, public_key, actor,
                                          sql_time(reader, now)))


def remember_key(conn: Conn, model_id: int, signer: str, public_key: str) -> None:
    """Keep an allowed key signer's PEM once a client has sent it (an owner may have
    allowed the key by fingerprint only)."""
    reader_for(conn).run("UPDATE allowed_signers SET public_key = ? WHERE model_id = ? "
                         "AND signer = ? AND public_key = ''", (public_key, model_id, signer))


def remove_signers(conn: Conn, model_id: int, signers: Sequence[str]) -> None:
    if signers:
        reader_for(conn).run(f"DELETE FROM allowed_signers WHERE model_id = ? AND signer IN "
                             f"({placeholders(len(signers))})", [model_id, *signers])


# ---- attestations -------------------------------------------------------------------

_ATTESTATION = ("a.sha256, a.predicate_type, a.predicate, a.signer, a.size, a.created_by, "
                "a.created_at")


def add_attestation(conn: Conn, version_id: int, *, sha256: str, size: int,
                    predicate_type: str, predicate: dict[str, Any], signer: str | None,
                    actor: str, now: datetime) -> None:
    reader = reader_for(conn)
    reader.run("INSERT INTO attestations (version_id, predicate_type, sha256, size, predicate, "
               "signer, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (version_id, predicate_type, sha256, size,
                json.dumps(predicate, sort_keys=True, separators=(",", ":")), signer, actor,
                sql_time(reader, now)))


def attestations(conn: Conn, model_name: str, version: int, version_id: int
                 ) -> list[AttestationRecord]:
    """A version's attestations, oldest first."""
    return [AttestationRecord(model_name, version, sha, kind, json.loads(predicate), signer,
                              size, by, stored_time(at))
            for sha, kind, predicate, signer, size, by, at in reader_for(conn).all(
                f"SELECT {_ATTESTATION} FROM attestations a WHERE a.version_id = ? "
                f"ORDER BY a.id", (version_id,))]


def attestation_count(conn: Conn, version_id: int) -> int:
    return int(reader_for(conn).value(
        "SELECT count(*) FROM attestations WHERE version_id = ?", (version_id,)))


def has_attestation(conn: Conn, version_id: int, sha256: str) -> bool:
    return reader_for(conn).one("SELECT 1 FROM attestations WHERE version_id = ? AND "
                                "sha256 = ?", (version_id, sha256)) is not None


# ---- checkpoints in the chain -------------------------------------------------------


def checkpoint_events(conn: Conn, *, after: int = 0, limit: int = 100,
                      newest_first: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """(event seq, payload) of ``checkpoint_signed`` events after seq ``after``."""
    order = "DESC" if newest_first else "ASC"
    return [(seq, json.loads(payload)) for seq, payload in settled(conn).all(
        f"SELECT seq, payload FROM events WHERE action = ? AND seq > ? ORDER BY seq {order} "
        f"LIMIT ?", (CHECKPOINT_SIGNED, after, limit))]


def first_checkpoint_after(conn: Conn, time: str) -> tuple[int, dict[str, Any]] | None:
    """The first checkpoint event recorded after the formatted time ``time``."""
    found = settled(conn).one(
        "SELECT seq, payload FROM events WHERE action = ? AND time > ? ORDER BY seq LIMIT 1",
        (CHECKPOINT_SIGNED, time))
    return (int(found[0]), json.loads(found[1])) if found is not None else None
