"""Reading the command line's own notations: NAME/VERSION, KEY=VALUE, times, versions.

A malformed notation is a usage error (exit 2, with the usage line); whether a
well-formed value is acceptable (a stage, a tag's length) is the registry's call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

# The --public-key option of `audit verify` and `resolve --proof`, here so `resolve`'s
# module need not import the audit commands to declare it.
PublicKey = Annotated[str | None, typer.Option(
    "--public-key", metavar="KEY", help="The checkpoint key you trust: its id (64 hex), its "
    "base64 public key, or the .pub file `charter key create` wrote.")]


def split_target(text: str) -> tuple[str, str | None]:
    """``fraud_detector`` → (name, None); ``fraud_detector/3`` → (name, "3")."""
    name, slash, version = text.partition("/")
    if slash and (not name or not version):
        raise typer.BadParameter(f"{text!r} is not NAME or NAME/VERSION",
                                 param_hint="NAME[/VERSION]")
    return name, (version if slash else None)


def parse_pairs(pairs: list[str], param: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=param)
        parsed[key] = value
    return parsed


def parse_version_number(text: str, param: str) -> int:
    """``3`` or ``v3``, as the registry accepts them elsewhere."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit() or int(digits) < 1:
        raise typer.BadParameter(f"{text!r} is not a version number like 3 or v3",
                                 param_hint=param)
    return int(digits)


def parse_expected_production(text: str) -> int | None:
    """``none`` states "Production is empty"; a number states which version holds it."""
    if text.lower() == "none":
        return None
    return parse_version_number(text, "--expect-production")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC, like every time Charter prints."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time like 2024-03-01T12:00:00Z",
                                 param_hint="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
