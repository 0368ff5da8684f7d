"""The one rule for a file path inside a model version (DESIGN §9).

Every file access — a file stored at registration, a manifest entry, an uploaded
file, a download over REST or through MLflow's artifact routes, a file written
by ``pull`` — passes its path through ``safe_relative_path`` first. A safe path
is relative, POSIX, normalised and plain: joined to any root it stays below that
root, and no consumer (a shell, a URL parser, Windows, a Unicode normaliser)
reads it differently. Anything else is refused, never repaired: a repaired path
would name a file the sender did not mean.

``path_from_url`` is the HTTP half: it decodes the raw (still percent-encoded)
tail of a URL once, refusing escapes that would smuggle a separator, a dot, a
percent sign (double encoding) or a control character, then applies the rule.
"""

from __future__ import annotations

import re
import unicodedata

from charter.domain import error_codes as codes
from charter.domain.errors import InvalidInput
from charter.domain.values import find_hidden_char

MAX_PATH = 1024       # version_files.path is String(1024)
MAX_SEGMENT = 255     # the common file-name limit (ext4, APFS, NTFS)

# Characters that change how a path or URL is split or read by some consumer.
# ':' names a drive or an alternate data stream on Windows, where a pulled file may land.
_SYNTAX = {"\\": "a backslash", "#": "a '#'", "?": "a '?'", ";": "a ';'",
           "%": "a '%' (percent-encoding)", ":": "a ':'"}
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
# Characters a URL may never carry as an escape in a file path: separators, dots,
# the percent sign itself (%252e is %2e after one decoding) and NUL.
_NEVER_ESCAPED = set("/\\.%\x00")


def refused(path: object, why: str, rule: str) -> InvalidInput:
    shown = path if isinstance(path, str) else repr(path)
    shown = shown if len(shown) <= 120 else shown[:120] + "..."
    return InvalidInput(
        codes.PATH_REFUSED, f"file path {shown!r} is refused: {why}",
        "file paths are relative POSIX paths such as 'data/model.pkl': no leading '/', "
        "no '.' or '..' segments, no empty segments, no backslashes, '%', '#', '?', ';' "
        "or control characters",
        {"path": shown, "rule": rule})


def safe_relative_path(text: object) -> str:
    """Return ``text`` unchanged when it is a safe relative file path; refuse it otherwise."""
    if not isinstance(text, str):
        raise refused(text, f"a path must be text, not {type(text).__name__}", "type")
    if not text:
        raise refused(text, "it is empty", "empty")
    if len(text) > MAX_PATH:
        raise refused(text, f"it is {len(text)} characters long; the limit is {MAX_PATH}",
                      "length")
    hidden = find_hidden_char(text, allow_space=True)
    if hidden is not None:
        raise refused(text, f"it contains the control character {text[hidden]!r}", "control")
    for char, name in _SYNTAX.items():
        if char in text:
            raise refused(text, f"it contains {name}", "syntax")
    if text.startswith("/"):
        raise refused(text, "it is absolute", "absolute")
    _check_lookalikes(text)
    for segment in text.split("/"):
        _check_segment(text, segment)
    return text


def _check_segment(text: str, segment: str) -> None:
    if segment == "":
        raise refused(text, "it contains an empty segment ('//' or a trailing '/')", "empty")
    if set(segment) == {"."}:
        raise refused(text, f"it contains a {segment!r} segment", "dot_segment")
    if segment != segment.strip():
        raise refused(text, f"the segment {segment!r} starts or ends with whitespace",
                      "whitespace")
    if len(segment.encode()) > MAX_SEGMENT:
        raise refused(text, f"a segment is longer than {MAX_SEGMENT} bytes", "length")


def _check_lookalikes(text: str) -> None:
    # A consumer that normalises Unicode (NFKC) would turn a fullwidth solidus or a
    # one-dot leader into real syntax; a path must mean the same before and after.
    normal = unicodedata.normalize("NFKC", text)
    if normal == text:
        return
    for char in "/\\.%#?;:":
        if normal.count(char) != text.count(char):
            raise refused(text, f"it contains a Unicode look-alike of {char!r}", "lookalike")


def path_from_url(raw: bytes | str) -> str:
    """Decode the raw, percent-encoded path tail of a URL once, then apply the rule.

    ``raw`` is what the client sent, before any decoding (ASGI ``raw_path``).
    Escapes of ordinary characters (``%20``, UTF-8 letters) are decoded; escapes
    of ``/ \\ . %`` and NUL are refused, so an encoded separator, an encoded
    dot-segment or a double encoding never reaches the rule as something else.
    """
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    shown = data.decode("utf-8", "replace")
    for match in _ESCAPE.finditer(data):
        char = chr(int(match.group(1), 16))
        if char in _NEVER_ESCAPED:
            raise refused(shown, f"{match.group().decode()!r} percent-encodes {char!r}",
                          "encoded_separator")
    if data.count(b"%") != len(_ESCAPE.findall(data)):
        raise refused(shown, "it contains a '%' that does not start a valid escape", "escape")
    try:
        decoded = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data).decode("utf-8")
    except UnicodeDecodeError:  # includes overlong forms such as %c0%af, an old '/'
        raise refused(shown, "its escapes are not valid UTF-8", "escape") from None
    return safe_relative_path(decoded)
