"""Real signing material for the provenance tests, made offline: ECDSA keys, a small
certificate authority, OpenSSF model-signing bundles (the `model_signing` library,
as a user runs it) and DSSE-signed in-toto statements."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from charter.domain.attestations import IN_TOTO_PAYLOAD, STATEMENT_V1, pae

EVAL = "https://example.com/eval/v1"
Private = ec.EllipticCurvePrivateKey | Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    private: Private
    private_path: Path
    public_path: Path

    @property
    def public_pem(self) -> str:
        return self.public_path.read_text()


def make_key(folder: Path, name: str = "signer", curve: ec.EllipticCurve | None = None,
             ed25519: bool = False) -> KeyPair:
    private: Private = (Ed25519PrivateKey.generate() if ed25519
                        else ec.generate_private_key(curve or ec.SECP256R1()))
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.pem", folder / f"{name}.pub"
    private_path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    public_path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, private_path, public_path)


def model_folder(root: Path, files: dict[str, bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, data in (files or {"model.pkl": b"weights " * 100,
                                 "conf/params.json": b'{"depth": 6}'}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def sign_with_key(folder: Path, key: KeyPair, signature: Path) -> Path:
    import model_signing.signing

    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=key.private_path).sign(folder, signature)
    return signature


@dataclass(frozen=True)
class Authority:
    root_path: Path
    leaf: KeyPair
    leaf_cert_path: Path
    subject: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme")])


def make_authority(folder: Path, leaf_name: str = "release-bot",
                   digital_signature: bool = True) -> Authority:
    """A root CA and one signing certificate it issued, valid from yesterday."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(UTC) - timedelta(days=1)
    root = (x509.CertificateBuilder().subject_name(_name("Acme Root")).issuer_name(
        _name("Acme Root")).public_key(root_key.public_key()).serial_number(
        x509.random_serial_number()).not_valid_before(start).not_valid_after(
        start + timedelta(days=30)).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
        x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                      crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(root_key, hashes.SHA256()))
    leaf = make_key(folder, leaf_name)
    assert isinstance(leaf.private, ec.EllipticCurvePrivateKey)
    cert = (x509.CertificateBuilder().subject_name(_name(leaf_name)).issuer_name(
        root.subject).public_key(leaf.private.public_key()).serial_number(
        x509.random_serial_number()).not_valid_before(start).not_valid_after(
        start + timedelta(days=30)).add_extension(
        x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                      key_encipherment=not digital_signature, data_encipherment=False,
                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                      encipher_only=False, decipher_only=False), critical=True)
        .sign(root_key, hashes.SHA256()))
    root_path, cert_path = folder / "root.pem", folder / f"{leaf_name}.crt"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(root_path, leaf, cert_path, cert.subject.rfc4514_string())


def sign_with_certificate(folder: Path, authority: Authority, signature: Path) -> Path:
    import model_signing.signing

    model_signing.signing.Config().use_certificate_signer(
        private_key=authority.leaf.private_path, signing_certificate=authority.leaf_cert_path,
        certificate_chain=[authority.root_path]).sign(folder, signature)
    return signature


def statement(subjects: dict[str, str], predicate: dict[str, Any] | None = None,
              predicate_type: str = EVAL) -> dict[str, Any]:
    return {"_type": STATEMENT_V1, "predicateType": predicate_type,
            "predicate": {"auc": 0.93} if predicate is None else predicate,
            "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects.items()]}


def dsse(body: dict[str, Any], key: KeyPair) -> bytes:
    """``body`` signed in a DSSE envelope, as in-toto tooling writes it."""
    payload = json.dumps(body).encode()
    message = pae(IN_TOTO_PAYLOAD, payload)
    if isinstance(key.private, Ed25519PrivateKey):
        sig = key.private.sign(message)
    else:
        sig = key.private.sign(message, ec.ECDSA(hashes.SHA256()))
    return json.dumps({"payloadType": IN_TOTO_PAYLOAD,
                       "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]
                       }).encode()


def rewrite_events(engine: Any, seq: int, changes: dict[str, Any], *,
                   drop_checkpoints: bool = False) -> None:
    """What someone with write access to the database (but not the checkpoint key) can do:
    change event ``seq``, recompute every hash after it and move the chain head along;
    ``drop_checkpoints`` also removes the signed checkpoints the log holds."""
    from sqlalchemy import text

    from charter.domain.events import (
        CHECKPOINT_SIGNED,
        GENESIS_HASH,
        NewEvent,
        chain_hash,
        hashed_fields,
    )
    from charter.store.triggers import drop_append_only_triggers

    with engine.connect() as connection:
        log = [dict(r) for r in connection.execute(
            text("SELECT * FROM events ORDER BY seq")).mappings()]
    if drop_checkpoints:
        log = [e for e in log if e["action"] != CHECKPOINT_SIGNED]
    prev, rows = GENESIS_HASH, []
    for index, row in enumerate(log, start=1):
        row = {**row, **(changes if row["seq"] == seq else {}), "seq": index}
        fields = hashed_fields(
            seq=index, time=row["time"], actor=row["actor"], correlation_id=row["correlation_id"],
            event=NewEvent(row["action"], row["model"], row["version"], row["from_stage"],
                           row["to_stage"], row["reason"], json.loads(row["payload"])))
        row["prev_hash"], row["hash"] = prev, chain_hash(prev, fields)
        prev = row["hash"]
        rows.append(row)
    with engine.begin() as connection:
        drop_append_only_triggers(connection)
        connection.execute(text("DELETE FROM events"))
        columns = list(rows[0])
        connection.execute(text(f"INSERT INTO events ({', '.join(columns)}) VALUES "
                                f"({', '.join(':' + c for c in columns)})"), rows)
        connection.execute(text("UPDATE chain_head SET seq = :seq, hash = :hash, time = :time "
                                "WHERE id = 1"),
                           {"seq": len(rows), "hash": prev, "time": rows[-1]["time"]})
