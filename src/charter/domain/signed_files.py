"""What a model signature binds, compared with the files a version holds.

An OpenSSF model-signing bundle signs a manifest: one ``(path, algorithm, digest)``
resource per file of the model folder. The server already has every file's sha256
(it hashed the bytes on the way in), so once the signature itself is verified the
manifest is compared with those digests; no blob is read again. That works for the
manifests model-signing makes by default (``method = files``, ``hash_type =
sha256``); sharded or BLAKE3 manifests would need the bytes re-hashed, and are
refused with the way to re-sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.signers import Signer

SUPPORTED_METHOD = "files"
SUPPORTED_HASH = "sha256"


@dataclass(frozen=True, order=True)
class SignedResource:
    path: str
    algorithm: str
    digest: str          # lowercase hex


@dataclass(frozen=True)
class SignedManifest:
    """What a verified signature says: who signed which digests, serialised how."""

    signer: Signer
    method: str
    hash_type: str
    resources: tuple[SignedResource, ...]


def check_manifest_kind(signed: SignedManifest) -> None:
    if signed.method != SUPPORTED_METHOD or signed.hash_type != SUPPORTED_HASH:
        raise InvalidInput(
            codes.SIGNATURE_UNSUPPORTED,
            f"The signature covers a {signed.method}/{signed.hash_type} manifest; Charter "
            f"checks {SUPPORTED_METHOD}/{SUPPORTED_HASH} manifests against the digests it "
            "stored", "sign with model_signing's defaults (file serialization, sha256): "
            "drop --use_shards and --hash_algorithm")


def compare_signed(signed: Iterable[SignedResource], files: Iterable[tuple[str, str]]
                   ) -> list[str]:
    """Problems, one line each, between the signed resources and ``(path, sha256)`` files.

    Every file must be signed and every signed resource must be a file with that
    digest: a file added after signing, one left out, or one whose bytes changed is
    named, so the refusal says exactly what differs.
    """
    want = {r.path: r for r in signed}
    have = dict(files)
    problems = [f"{path}: signed but not in the version"
                for path in sorted(want.keys() - have.keys())]
    problems += [f"{path}: in the version but not signed"
                 for path in sorted(have.keys() - want.keys())]
    for path in sorted(want.keys() & have.keys()):
        resource = want[path]
        if resource.algorithm != SUPPORTED_HASH:
            problems.append(f"{path}: signed with {resource.algorithm}, not sha256")
        elif resource.digest.lower() != have[path]:
            problems.append(f"{path}: the signature says sha256 {resource.digest[:12]}…, "
                            f"the stored file is {have[path][:12]}…")
    return problems


def check_signed_files(signed: SignedManifest, files: Iterable[tuple[str, str]],
                       *, subject: str) -> None:
    """Refuse a version whose files are not exactly the ones the signature covers."""
    check_manifest_kind(signed)
    problems = compare_signed(signed.resources, files)
    if problems:
        raise InvalidInput(
            codes.SIGNATURE_FILES_MISMATCH,
            f"The signature by {signed.signer} does not cover {subject}'s files: "
            f"{'; '.join(problems[:5])}"
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
            "sign the folder you register, after its last change, and register every "
            "file the signature lists (the signature file itself is left out)",
            {"problems": problems[:100]})
