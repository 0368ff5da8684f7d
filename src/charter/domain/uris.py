"""``models:/`` URIs: how callers name a version without knowing its number.

Four forms (DESIGN §4), parsed strictly: anything that is not exactly one of them
is refused rather than guessed at, because a URI that resolves "roughly" could
deploy the wrong model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.values import check_alias, find_hidden_char

SCHEME = "models:/"
MAX_URI_LENGTH = 1024
# Versions are stored as 64-bit integers; a larger number can only be a typo or an attack.
MAX_VERSION = 2**31 - 1  # versions are stored as 32-bit integers
LATEST = "latest"

URI_FORMS = (
    "models:/<name>/<version>",
    "models:/<name>/<stage>",
    "models:/<name>@<alias>",
    "models:/<name>/latest",
)
_HINT = "use one of: " + ", ".join(URI_FORMS)

_VERSION = re.compile(r"[1-9][0-9]*")
# Characters that are URI syntax or path tricks; none of them belongs in a model name.
_NAME_FORBIDDEN = re.compile(r"[/@:%#?;\\]")


def _refuse(uri: object, reason: str) -> InvalidInput:
    shown = uri if not isinstance(uri, str) or len(uri) <= 120 else uri[:120] + "..."
    return InvalidInput(
        codes.URI_INVALID,
        f"{shown!r} is not a model URI: {reason}",
        _HINT,
        {"uri": shown if isinstance(shown, str) else repr(shown)},
    )


@dataclass(frozen=True)
class ModelUri:
    """A parsed ``models:/`` URI; exactly one of version, stage, alias and latest is set."""

    name: str
    version: int | None = None
    stage: Stage | None = None
    alias: str | None = None
    latest: bool = False

    def __post_init__(self) -> None:
        selectors = [self.version is not None, self.stage is not None,
                     self.alias is not None, self.latest]
        if selectors.count(True) != 1:
            raise _refuse(self, "set exactly one of version, stage, alias or latest")
        _check_name(self.name, self)
        if self.version is not None and not _is_valid_version_number(self.version):
            raise _refuse(self, f"version {self.version!r} is not a number from 1 up")
        if self.stage is not None and not isinstance(self.stage, Stage):
            raise _refuse(self, f"stage {self.stage!r} is not a Stage")
        if self.alias is not None:
            _check_alias_part(self.alias, self)

    @property
    def kind(self) -> str:
        """Which form this URI has: "version", "stage", "alias" or "latest"."""
        if self.version is not None:
            return "version"
        if self.stage is not None:
            return "stage"
        return "alias" if self.alias is not None else "latest"

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{SCHEME}{self.name}@{self.alias}"
        if self.version is not None:
            return f"{SCHEME}{self.name}/{self.version}"
        if self.stage is not None:
            return f"{SCHEME}{self.name}/{self.stage.value}"
        return f"{SCHEME}{self.name}/{LATEST}"


def _is_valid_version_number(version: object) -> bool:
    return (type(version) is int) and 1 <= version <= MAX_VERSION


def _check_name(name: object, uri: object) -> None:
    if not isinstance(name, str) or not name:
        raise _refuse(uri, "the model name is empty")
    bad = _NAME_FORBIDDEN.search(name)
    if bad:
        raise _refuse(uri, f"the model name contains {bad.group()!r}")
    hidden = find_hidden_char(name)
    if hidden is not None:
        raise _refuse(uri, f"the model name contains the hidden character {name[hidden]!r}")


def _check_alias_part(alias: str, uri: object) -> None:
    try:
        check_alias(alias)
    except InvalidInput as err:
        raise _refuse(uri, err.message) from None


def parse_model_uri(uri: str) -> ModelUri:
    """Parse one of the four ``models:/`` forms; stage names come back canonical."""
    if not isinstance(uri, str):
        raise _refuse(uri, "a URI must be text")
    if len(uri) > MAX_URI_LENGTH:
        raise _refuse(uri, f"it is longer than {MAX_URI_LENGTH} characters")
    hidden = find_hidden_char(uri)
    if hidden is not None:
        raise _refuse(uri, f"it contains the whitespace or control character {uri[hidden]!r}")
    if not uri.startswith(SCHEME):
        raise _refuse(uri, f"it does not start with {SCHEME!r}")
    rest = uri[len(SCHEME):]
    if "@" in rest:
        name, _, alias = rest.partition("@")
        _check_name(name, uri)
        _check_alias_part(alias, uri)
        return ModelUri(name, alias=alias)
    name, slash, suffix = rest.partition("/")
    _check_name(name, uri)
    if not slash or not suffix:
        raise _refuse(uri, "a version, stage, alias or 'latest' must follow the name")
    return _parse_suffix(uri, name, suffix)


def _parse_suffix(uri: str, name: str, suffix: str) -> ModelUri:
    if "/" in suffix:
        raise _refuse(uri, "only one path segment may follow the name")
    if suffix.isascii() and suffix.isdigit():
        return ModelUri(name, version=_parse_version(uri, suffix))
    if suffix.lower() == LATEST:
        return ModelUri(name, latest=True)
    try:
        return ModelUri(name, stage=parse_stage(suffix))
    except InvalidInput:
        raise _refuse(
            uri, f"{suffix!r} is not a version number, a stage ({', '.join(Stage)}) or 'latest'"
        ) from None


def _parse_version(uri: str, digits: str) -> int:
    # Leading zeros are refused so that every version has exactly one spelling.
    if not _VERSION.fullmatch(digits):
        raise _refuse(uri, f"version {digits!r} must be a number from 1 up without leading zeros")
    version = int(digits)
    if version > MAX_VERSION:
        raise _refuse(uri, f"version {digits[:30]!r} is too large")
    return version
