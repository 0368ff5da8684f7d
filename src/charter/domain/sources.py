"""The allow-list grammar for a model version's ``source`` (DESIGN §4).

A source is provenance only: Charter never fetches, opens or lists it. It is
still checked, because other tools (the MLflow client, deploy jobs) do open it,
and a source that smuggles a path out of its root, a query string or a
percent-encoded separator would be served to them with the registry's
authority. Everything not matched by the grammar is refused.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.uris import parse_model_uri
from charter.domain.values import find_hidden_char

DEFAULT_SCHEMES = frozenset(
    {"runs", "models", "mlflow-artifacts", "s3", "gs", "wasbs", "abfss", "dbfs"}
)


@dataclass(frozen=True)
class SourcePolicy:
    schemes: frozenset[str] = DEFAULT_SCHEMES
    file_roots: tuple[str, ...] = ()  # absolute POSIX paths under which file: sources are allowed
    max_length: int = 2048


class _Broken(Exception):
    """One grammar rule the source breaks; check_source turns it into InvalidInput."""

    def __init__(self, rule: str, why: str) -> None:
        super().__init__(why)
        self.rule = rule
        self.why = why


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_RUN_ID = re.compile(r"[0-9a-zA-Z_-]+")
# MLflow 3 registers logged models as models:/m-<hex id> (no version or stage).
_LOGGED_MODEL_ID = re.compile(r"m-[0-9A-Za-z_-]{1,128}")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,220}[A-Za-z0-9]")
_AZURE_CONTAINER = re.compile(r"[a-z0-9][a-z0-9-]{1,62}@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_AUTHORITY_BY_SCHEME = {"s3": _BUCKET, "gs": _BUCKET, "wasbs": _AZURE_CONTAINER,
                        "abfss": _AZURE_CONTAINER}
_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# Characters that change how a URI or path is split; never acceptable in a source,
# neither literally nor hidden behind an escape or a Unicode look-alike.
_SYNTAX_CHARS = {"\\": "a backslash", "#": "a '#' fragment", "?": "a '?' query", ";": "a ';'"}
_ESCAPE_FORBIDDEN = set("/\\.%#?;")


def check_source(source: str, *, run_id: str = "", policy: SourcePolicy = SourcePolicy()) -> str:
    """Return ``source`` unchanged when the policy allows it; refuse it otherwise."""
    try:
        _check_characters(source, policy.max_length)
        _check_escapes(source)
        _check_dot_segments(source)
        _check_grammar(source, run_id, policy)
    except _Broken as broken:
        shown = _shorten(source)
        raise InvalidInput(
            codes.SOURCE_REFUSED,
            f"source {shown!r} is refused: {broken.why}",
            _allowed_hint(policy),
            {"source": shown, "rule": broken.rule},
        ) from None
    return source


def _shorten(source: object) -> str:
    text = source if isinstance(source, str) else repr(source)
    return text if len(text) <= 200 else text[:200] + "..."


def _allowed_hint(policy: SourcePolicy) -> str:
    forms = ", ".join(f"{scheme}:" for scheme in sorted(policy.schemes))
    hint = f"use one of the allowed schemes ({forms})"
    if policy.file_roots:
        hint += f", or a file: URI or absolute path under {', '.join(policy.file_roots)}"
    return hint + "; no '..', '#', '?', ';', backslashes or percent-encoded separators"


def _check_characters(source: object, max_length: int) -> None:
    if not isinstance(source, str):
        raise _Broken("type", f"a source must be text, not {type(source).__name__}")
    if not source:
        raise _Broken("empty", "it is empty")
    if len(source) > max_length:
        raise _Broken("length", f"it is {len(source)} characters long; the limit is {max_length}")
    hidden = find_hidden_char(source, allow_space=True)
    if hidden is not None:
        raise _Broken("control", f"it contains the control character {source[hidden]!r}")
    if source != source.strip():
        raise _Broken("whitespace", "it starts or ends with whitespace")
    for char, name in _SYNTAX_CHARS.items():
        if char in source:
            raise _Broken("syntax", f"it contains {name}")
    _check_lookalikes(source)


def _check_lookalikes(source: str) -> None:
    # A consumer that normalises Unicode would turn a fullwidth solidus or dot into
    # a real one, so a source must not gain URI syntax under NFKC.
    normal = unicodedata.normalize("NFKC", source)
    if normal == source:
        return
    for char in "/\\.#?;%:@":
        if normal.count(char) != source.count(char):
            raise _Broken("lookalike", f"it contains a Unicode look-alike of {char!r}")


def _check_escapes(source: str) -> None:
    """Percent-escapes may encode ordinary characters (%20) but never separators or dots."""
    if source.count("%") != sum(len(m.group()) // 3 for m in _ESCAPE_RUN.finditer(source)):
        raise _Broken("escape", "it contains a '%' that does not start a valid escape")
    for run in _ESCAPE_RUN.finditer(source):
        try:
            decoded = bytes.fromhex(run.group().replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            # Includes overlong forms such as %c0%af, an old way of spelling '/'.
            raise _Broken("escape", f"{run.group()!r} is not valid percent-encoded UTF-8") from None
        bad = [c for c in decoded if c in _ESCAPE_FORBIDDEN or find_hidden_char(c, allow_space=True)
               is not None]
        if bad:
            raise _Broken(
                "encoded_separator",
                f"{run.group()!r} percent-encodes {bad[0]!r} (separators, dots, '%' and "
                "control characters must not be encoded)",
            )


def _check_dot_segments(source: str) -> None:
    for segment in source.split("/"):
        if segment in (".", ".."):
            raise _Broken("dot_segment", f"it contains a {segment!r} path segment")


def _check_grammar(source: str, run_id: str, policy: SourcePolicy) -> None:
    if source.startswith("/"):
        _check_local_path(source, policy, what="the path")
        return
    match = _SCHEME.match(source)
    if match is None:
        raise _Broken("relative", "it is a relative path; only absolute paths or URIs are allowed")
    scheme, rest = match.group(1), source[match.end():]
    _check_scheme_name(scheme, policy)
    if scheme == "file":
        _check_file_uri(rest, policy)
    else:
        _check_scheme_grammar(scheme, rest, source, run_id)


def _check_scheme_name(scheme: str, policy: SourcePolicy) -> None:
    if len(scheme) == 1:
        raise _Broken("windows", "it looks like a Windows drive path; only POSIX paths are allowed")
    if scheme.lower() != "file" and scheme.lower() not in policy.schemes:
        raise _Broken("scheme", f"the scheme {scheme + ':'!r} is not allowed")
    if scheme != scheme.lower():
        # Consumers differ on whether schemes are case-insensitive; one spelling avoids doubt.
        raise _Broken("scheme", f"the scheme {scheme!r} must be written in lowercase")


def _check_scheme_grammar(scheme: str, rest: str, source: str, run_id: str) -> None:
    if scheme == "runs":
        _check_runs(rest, run_id)
    elif scheme == "models":
        _check_models(source)
    elif scheme == "dbfs":
        _check_rooted_path(rest, "dbfs:")
    elif scheme in _AUTHORITY_BY_SCHEME:
        _check_authority_and_path(scheme, rest, _AUTHORITY_BY_SCHEME[scheme])
    elif rest.startswith("//"):
        # mlflow-artifacts://host:port/path and any extra scheme configured by the operator.
        _check_authority_and_path(scheme, rest, _HOST)
    else:
        _check_rooted_path(rest, f"{scheme}:")


def _check_path_segments(path: str, what: str) -> None:
    """``path`` starts after a '/'; it needs a non-empty segment and no '//' inside."""
    segments = path.split("/")
    if segments and segments[-1] == "":
        segments = segments[:-1]  # one trailing slash names the same directory
    if not segments:
        raise _Broken("path", f"{what} has no path after it")
    if "" in segments:
        raise _Broken("path", f"{what} contains an empty path segment ('//')")


def _check_rooted_path(rest: str, what: str) -> None:
    if not rest.startswith("/") or rest.startswith("//"):
        raise _Broken("path", f"{what} must be followed by a single '/' and a path")
    _check_path_segments(rest[1:], what)


def _check_authority_and_path(scheme: str, rest: str, authority_pattern: re.Pattern[str]) -> None:
    if not rest.startswith("//"):
        raise _Broken("authority", f"{scheme}: must be followed by '//' and a bucket or host")
    authority, slash, path = rest[2:].partition("/")
    if not authority_pattern.fullmatch(authority):
        raise _Broken("authority", f"{authority!r} is not a valid {scheme} bucket or host")
    if not slash:
        raise _Broken("path", f"{scheme}://{authority} has no key or path after it")
    _check_path_segments(path, f"{scheme}://{authority}")


def _check_runs(rest: str, run_id: str) -> None:
    if not rest.startswith("/") or rest.startswith("//"):
        raise _Broken("runs", "runs: must be written runs:/<run_id>/<path>")
    source_run, slash, path = rest[1:].partition("/")
    if not _RUN_ID.fullmatch(source_run):
        raise _Broken("runs", f"{source_run!r} is not a run id (letters, digits, _ and -)")
    if not slash:
        raise _Broken("runs", "runs: must be written runs:/<run_id>/<path>")
    _check_path_segments(path, f"runs:/{source_run}")
    if run_id and run_id != source_run:
        raise _Broken("run_mismatch", f"it names run {source_run!r} but run_id is {run_id!r}")


def _check_models(source: str) -> None:
    if source.startswith("models:/") and _LOGGED_MODEL_ID.fullmatch(source[len("models:/"):]):
        return
    try:
        parse_model_uri(source)
    except InvalidInput as err:
        raise _Broken("models", err.message) from None


def _check_file_uri(rest: str, policy: SourcePolicy) -> None:
    # file:/p and file:///p name a local path; file://host/p names another machine.
    if rest.startswith("///"):
        path = rest[2:]
    elif rest.startswith("/") and not rest.startswith("//"):
        path = rest
    else:
        raise _Broken("file", "file: URIs must be file:///<absolute path> (no host)")
    _check_local_path(path, policy, what="the file: URI")


def _check_local_path(path: str, policy: SourcePolicy, *, what: str) -> None:
    if not policy.file_roots:
        raise _Broken("file", f"{what} is local, and no file roots are configured")
    if path.startswith("//") or "//" in path.rstrip("/"):
        raise _Broken("path", f"{what} contains an empty path segment ('//')")
    if not any(_is_within(path, root) for root in policy.file_roots):
        raise _Broken("file", f"{what} is not under the configured roots")


def _is_within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or below it; '/data-evil' is not below '/data'."""
    if not root.startswith("/"):
        return False  # a relative root would depend on the server's working directory
    root = posixpath.normpath(root)
    if root.startswith("//"):
        root = "/" + root.lstrip("/")
    path = posixpath.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")
