"""Who signed a version, and whether that signer may sign this name (signer continuity).

A signer is named by what the verification proved: a key by its fingerprint
(``key:sha256:<64 hex>``, the sha256 of its PEM public key, the same value an
OpenSSF model-signing bundle carries as its key hint) or a certificate by its
subject (``certificate:CN=release-bot,O=Acme``, RFC 4514).

A name's allowed signers are pinned by its first signed version and managed by
its owners afterwards. Once a name has allowed signers, every new version must be
signed by one of them: an unsigned version is refused, one signed by someone else
is refused or held for an owner's decision, as configured (``unknown_signer``).
Pure: the caller passes the pinned set and the proved signer in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from charter.domain import error_codes as codes
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.per_model import declared_for, name_key

KEY = "key"
CERTIFICATE = "certificate"
MAX_SUBJECT = 1000
MAX_SIGNERS = 50

_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class Signer:
    kind: str      # KEY or CERTIFICATE
    id: str        # sha256:<hex> for a key, the RFC 4514 subject for a certificate

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def short(self) -> str:
        """For narrow columns: a key's first 12 hex digits, a certificate's subject."""
        return f"key:{self.id[7:19]}…" if self.kind == KEY else str(self)


def key_signer(fingerprint_hex: str) -> Signer:
    """The signer of a public key whose PEM hashes to ``fingerprint_hex``."""
    return parse_signer(f"{KEY}:sha256:{fingerprint_hex}")


def parse_signer(text: object) -> Signer:
    """``key:sha256:<64 hex>`` or ``certificate:<subject>``; anything else is refused."""
    if not isinstance(text, str):
        raise _invalid(text)
    kind, _, ident = text.strip().partition(":")
    if kind == KEY and _FINGERPRINT.fullmatch(ident.lower()):
        return Signer(KEY, ident.lower())
    if (kind == CERTIFICATE and ident.strip() and len(ident) <= MAX_SUBJECT
            and ident.isprintable()):
        return Signer(CERTIFICATE, ident.strip())
    raise _invalid(text)


def parse_signers(values: object, *, where: str) -> tuple[Signer, ...]:
    """A configured or requested list of signers: no duplicates, at most MAX_SIGNERS."""
    if not isinstance(values, list | tuple) or len(values) > MAX_SIGNERS:
        raise InvalidInput(codes.SIGNER_INVALID, f"{where}: signers must be a list of at most "
                           f"{MAX_SIGNERS} signers",
                           'e.g. ["key:sha256:3f2a…", "certificate:CN=release-bot,O=Acme"]')
    parsed = tuple(sorted({parse_signer(value) for value in values}))
    return parsed


def _invalid(text: object) -> InvalidInput:
    return InvalidInput(codes.SIGNER_INVALID, f"{str(text)[:120]!r} is not a signer",
                        "write key:sha256:<64 hex digits> (a public key's fingerprint, as "
                        "`charter show` prints it) or certificate:<subject>, e.g. "
                        "certificate:CN=release-bot,O=Acme")


# --- the continuity rule --------------------------------------------------------------


class UnknownSigner(enum.StrEnum):
    """What happens to a version signed by someone the name does not allow."""

    REFUSE = "refuse"
    HOLD = "hold"


def parse_unknown_signer(value: object, *, where: str) -> UnknownSigner:
    try:
        return UnknownSigner(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(codes.CONFIG_INVALID, f"{where}: unknown_signer {str(value)[:40]!r} is "
                           "not refuse or hold",
                           'unknown_signer = "refuse" (the default) or "hold" (an owner '
                           "approves the signer)") from None


class Verdict(enum.StrEnum):
    ACCEPT = "accept"     # unsigned on an unpinned name, or signed by an allowed signer
    PIN = "pin"           # the name's first signed version: its signer becomes the allowed one
    HOLD = "hold"         # signed by an unknown signer; an owner decides


def judge_signer(name: str, allowed: Collection[Signer], signer: Signer | None,
                 unknown: UnknownSigner) -> Verdict:
    """Whether a new version of ``name`` signed by ``signer`` (None: unsigned) may register.

    Raises the refusal (``signature.required``, ``signer.unknown``); answers how to
    proceed otherwise.
    """
    if not allowed:
        return Verdict.ACCEPT if signer is None else Verdict.PIN
    if signer is None:
        raise Conflict(codes.SIGNATURE_REQUIRED,
                       f"{name} only takes signed versions: its allowed signers are "
                       f"{describe(allowed)}",
                       "sign the model (model_signing sign key|certificate …) and register "
                       "it with --signature model.sig", {"allowed": sorted(map(str, allowed))})
    if signer in allowed:
        return Verdict.ACCEPT
    if unknown is UnknownSigner.HOLD:
        return Verdict.HOLD
    raise Conflict(codes.SIGNER_UNKNOWN,
                   f"{name} does not accept versions signed by {signer}: its allowed signers "
                   f"are {describe(allowed)}",
                   f"sign it with an allowed key, or have an owner allow the signer: "
                   f"`charter signers add {name} {signer}`",
                   {"signer": str(signer), "allowed": sorted(map(str, allowed))})


def describe(signers: Iterable[Signer]) -> str:
    names = sorted(str(s) for s in signers)
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "") if names \
        else "(none)"


def check_signer_edit(name: str, current: Collection[Signer], add: Iterable[Signer],
                      remove: Iterable[Signer]) -> tuple[Signer, ...]:
    """The allowed signers after an owner's edit: adding one already there or removing one
    that is not is refused, so an audited edit always changes something."""
    after = set(current)
    for signer in add:
        if signer in after:
            raise Conflict(codes.SIGNER_EXISTS, f"{signer} already may sign {name}",
                           f"list them with `charter signers {name}`")
        after.add(signer)
    for signer in remove:
        if signer not in after:
            raise Conflict(codes.SIGNER_NOT_ALLOWED, f"{signer} is not an allowed signer of {name}",
                           f"list them with `charter signers {name}`")
        after.discard(signer)
    if len(after) > MAX_SIGNERS:
        raise InvalidInput(codes.SIGNER_TOO_MANY, f"{name} would have {len(after)} allowed "
                           f"signers; the limit is {MAX_SIGNERS}",
                           "remove signers no longer in use")
    return tuple(sorted(after))


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class SigningPolicy:
    """``[signing] unknown_signer`` and its per-model overrides (``[models.X.signing]``)."""

    unknown_signer: UnknownSigner = UnknownSigner.REFUSE
    models: Mapping[str, UnknownSigner] = field(default_factory=dict)

    def unknown_signer_for(self, name: str, former: Iterable[str] = ()) -> UnknownSigner:
        found = declared_for(self.models, name, former)
        return found if found is not None else self.unknown_signer


SIGNING_KEYS = ("unknown_signer", "certificate_roots")


def parse_signing_policy(config: Mapping[str, Any]) -> SigningPolicy:
    section = config.get("signing", {})
    if not isinstance(section, Mapping):
        raise InvalidInput(codes.CONFIG_INVALID, "[signing] must be a table",
                           'e.g. unknown_signer = "hold"')
    unknown = sorted(set(section) - set(SIGNING_KEYS))
    if unknown:
        raise InvalidInput(codes.CONFIG_INVALID, f"[signing]: unknown key(s) {', '.join(unknown)}",
                           f"the keys are {', '.join(SIGNING_KEYS)} (docs/provenance.md)")
    default = parse_unknown_signer(section.get("unknown_signer", "refuse"), where="[signing]")
    models = {}
    tables = config.get("models", {})
    for name, table in (tables.items() if isinstance(tables, Mapping) else ()):
        override = table.get("signing") if isinstance(table, Mapping) else None
        if override is None:
            continue
        where = f"[models.{name}.signing]"
        if not isinstance(override, Mapping) or set(override) - {"unknown_signer"}:
            raise InvalidInput(codes.CONFIG_INVALID, f"{where}: the one key is unknown_signer",
                               'e.g. unknown_signer = "hold"')
        models[name_key(str(name))] = parse_unknown_signer(
            override.get("unknown_signer", default.value), where=where)
    return SigningPolicy(default, MappingProxyType(models))
