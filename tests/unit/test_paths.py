"""The one path rule (DESIGN §9): every hostile file path is refused, plain ones pass as given."""

from __future__ import annotations

import pytest

from charter.domain.errors import InvalidInput
from charter.domain.paths import MAX_PATH, path_from_url, safe_relative_path

PLAIN = [
    "MLmodel",
    "model.pkl",
    "data/model.pkl",
    "data/nested/deeper/vocab.txt",
    ".hidden",                       # a dot file is a name, not a dot-segment
    "weights.v2.bin",
    "données/modèle.pkl",            # non-ASCII names are fine
    "with space/file name.txt",
    "a" * 255,
    "/".join(["d" * 200] * 5),       # 1004 characters
]

HOSTILE = {
    "": "empty",
    "/etc/passwd": "absolute",
    "//server/share": "absolute",
    "..": "dot_segment",
    "../secret": "dot_segment",
    "data/../../secret": "dot_segment",
    "data/..": "dot_segment",
    "./model.pkl": "dot_segment",
    "data/./model.pkl": "dot_segment",
    "...": "dot_segment",
    "data//model.pkl": "empty",
    "data/": "empty",
    "data\\model.pkl": "syntax",
    "..\\..\\windows\\system32": "syntax",
    "C:\\Windows": "syntax",
    "C:/Windows/system.ini": "syntax",
    "model.pkl:stream": "syntax",
    "model\x00.pkl": "control",
    "model\n.pkl": "control",
    "model\u202e.pkl": "control",       # right-to-left override
    "model#frag": "syntax",
    "model?x=1": "syntax",
    "model;jsessionid=1": "syntax",
    "%2e%2e/secret": "syntax",          # already-decoded text holding escapes
    "%252e%252e/secret": "syntax",
    "data%2fmodel.pkl": "syntax",
    "..\uff0fsecret": "lookalike",        # fullwidth solidus
    "\uff0e\uff0e/secret": "lookalike",  # fullwidth dots
    " model.pkl": "whitespace",
    "data/model.pkl ": "whitespace",
    "x" * 256: "length",
    "/".join(["d" * 250] * 5): "length",
}


@pytest.mark.parametrize("path", PLAIN)
def test_plain_relative_paths_pass_unchanged(path):
    assert safe_relative_path(path) == path


@pytest.mark.parametrize(("path", "rule"), HOSTILE.items(), ids=[repr(p)[:40] for p in HOSTILE])
def test_hostile_paths_are_refused_with_the_rule_they_break(path, rule):
    with pytest.raises(InvalidInput) as refused:
        safe_relative_path(path)
    assert refused.value.code == "path.refused"
    assert refused.value.details["rule"] == rule
    assert refused.value.hint


def test_non_text_is_refused():
    with pytest.raises(InvalidInput):
        safe_relative_path(b"model.pkl")  # type: ignore[arg-type]


def test_the_length_limit_is_the_database_column():
    assert len("/".join(["d" * 200] * 5)) <= MAX_PATH < len("x" * (MAX_PATH + 1))


URL_PLAIN = {
    b"data/model.pkl": "data/model.pkl",
    b"with%20space/file.txt": "with space/file.txt",
    b"donn%C3%A9es/mod%C3%A8le.pkl": "données/modèle.pkl",
    "données/x.bin": "données/x.bin",        # a raw UTF-8 path as some clients send it
}

URL_HOSTILE = [
    b"%2e%2e/secret",          # encoded dot-segment
    b"%2E%2E/secret",
    b".%2e/secret",
    b"data%2fmodel.pkl",       # encoded separator
    b"data%2Fmodel.pkl",
    b"..%2fsecret",
    b"data%5cmodel.pkl",       # encoded backslash
    b"%252e%252e/secret",      # double encoding
    b"data%252fmodel.pkl",
    b"%25",
    b"model%00.pkl",           # NUL
    b"%c0%ae%c0%ae/secret",    # overlong UTF-8 dots
    b"%c0%af",                 # overlong UTF-8 slash
    b"model%",                 # a lone '%'
    b"model%zz",
    b"model%23frag",           # '#', '?' and ';' arrive encoded
    b"model%3Fx",
    b"model%3b",
    b"../secret",
    b"/etc/passwd",
    b"data\\model.pkl",
]


@pytest.mark.parametrize(("raw", "decoded"), URL_PLAIN.items())
def test_url_paths_are_decoded_once(raw, decoded):
    assert path_from_url(raw) == decoded


@pytest.mark.parametrize("raw", URL_HOSTILE, ids=[r.decode() for r in URL_HOSTILE])
def test_hostile_url_paths_are_refused(raw):
    with pytest.raises(InvalidInput) as refused:
        path_from_url(raw)
    assert refused.value.code == "path.refused"
