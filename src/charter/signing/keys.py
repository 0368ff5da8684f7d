"""Ed25519 checkpoint keys: create, load, sign a checkpoint, check one.

The private key lives in a file outside the database (``[audit] checkpoint_key``),
PEM (PKCS #8), readable by its owner only; whoever can rewrite the database must
not be able to read it. A key is named by its id: the sha256 of its raw 32-byte
public key, in hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.domain import error_codes as codes
from charter.domain.checkpoints import Checkpoint, SignedCheckpoint
from charter.domain.errors import InvalidInput

_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def key_id_of(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(*_RAW)).hexdigest()


@dataclass(frozen=True)
class CheckpointKey:
    private: Ed25519PrivateKey
    path: Path

    @property
    def key_id(self) -> str:
        return key_id_of(self.private.public_key())

    @property
    def public_key(self) -> str:
        """The raw public key, base64: what a checkpoint carries and a verifier trusts."""
        return base64.b64encode(self.private.public_key().public_bytes(*_RAW)).decode()

    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, checkpoint: Checkpoint) -> SignedCheckpoint:
        signature = self.private.sign(checkpoint.body())
        return SignedCheckpoint(checkpoint, self.key_id, self.public_key,
                                base64.b64encode(signature).decode())


def create_key(path: Path) -> CheckpointKey:
    """Write a new key to ``path`` (mode 0600); an existing file is never overwritten."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(codes.KEY_EXISTS, f"'{path}' already exists",
                           "a checkpoint key is never overwritten: choose another path, or "
                           "move the old key away if you mean to rotate it") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return CheckpointKey(private, path)


def load_key(path: Path) -> CheckpointKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(codes.KEY_NOT_FOUND, f"The checkpoint key '{path}' does not exist",
                           f"create it with `charter key create {path}`, or fix "
                           "[audit] checkpoint_key / CHARTER_CHECKPOINT_KEY") from None
    except OSError as error:
        raise InvalidInput(codes.KEY_UNREADABLE, f"The checkpoint key '{path}' cannot be read: "
                           f"{error.strerror}", "give the server's user read access") from None
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        private = None
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidInput(codes.KEY_INVALID, f"'{path}' is not an unencrypted Ed25519 private key "
                           "(PEM)", f"create one with `charter key create {path}`")
    return CheckpointKey(private, path)


def verify_checkpoint(signed: SignedCheckpoint) -> bool:
    """Whether ``signed`` was signed by the key it names (its id matches its public key).

    Whether that key is *trusted* is the caller's question (domain.checkpoints)."""
    try:
        raw = base64.b64decode(signed.public_key, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        if key_id_of(public) != signed.key_id:
            return False
        public.verify(base64.b64decode(signed.signature, validate=True),
                      signed.checkpoint.body())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def trusted_key_id(text: str) -> str:
    """The key id a user trusts, given as a key id, a raw base64 public key, or a PEM
    public key (the text of ``charter key create``'s .pub file)."""
    value = text.strip()
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower()):
        return value.lower()
    try:
        if value.startswith("-----BEGIN"):
            public = serialization.load_pem_public_key(value.encode())
        else:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, TypeError):
        public = None
    if not isinstance(public, Ed25519PublicKey):
        raise InvalidInput(codes.KEY_INVALID, f"{value[:60]!r} is not an Ed25519 public key",
                           "pass the key id (64 hex digits), the public key in base64, or the "
                           ".pub file `charter key create` wrote")
    return key_id_of(public)
