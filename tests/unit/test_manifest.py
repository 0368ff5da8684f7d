"""Manifests: shape checks, comparison with what the server stored, folder listings, ranges."""

from __future__ import annotations

import hashlib

import pytest

from charter.api.files import parse_range
from charter.domain.errors import InvalidInput
from charter.domain.manifest import (
    ManifestEntry,
    TreeEntry,
    compare_manifest,
    list_folder,
    manifest_digest,
    parse_manifest,
)

A = hashlib.sha256(b"a").hexdigest()
B = hashlib.sha256(b"b").hexdigest()


def entry(path: str, size: int = 1, sha256: str = A) -> dict[str, object]:
    return {"path": path, "size": size, "sha256": sha256}


def test_a_manifest_is_parsed_sorted_by_path():
    parsed = parse_manifest([entry("z.bin"), entry("data/a.json", 2, B)])
    assert parsed == [ManifestEntry("data/a.json", 2, B), ManifestEntry("z.bin", 1, A)]


@pytest.mark.parametrize(("entries", "code"), [
    ([], "manifest.empty"),
    ("MLmodel", "manifest.empty"),
    ([entry("a"), entry("a")], "manifest.duplicate"),
    ([entry("data"), entry("data/x")], "manifest.conflict"),
    ([entry("../x")], "path.refused"),
    ([entry("a", -1)], "manifest.invalid"),
    ([entry("a", True)], "manifest.invalid"),
    ([entry("a", "12")], "manifest.invalid"),
    ([entry("a", 1, "A" * 64)], "manifest.invalid"),
    ([entry("a", 1, "abc")], "manifest.invalid"),
    ([{"path": "a", "size": 1}], "manifest.invalid"),
    ([{**entry("a"), "mode": "0755"}], "manifest.invalid"),
    (["a"], "manifest.invalid"),
])
def test_malformed_manifests_are_refused(entries, code):
    with pytest.raises(InvalidInput) as refused:
        parse_manifest(entries)
    assert refused.value.code == code


def test_comparison_names_every_difference():
    claimed = parse_manifest([entry("same"), entry("missing"), entry("size", 5),
                              entry("digest", 1, B)])
    received = [ManifestEntry("same", 1, A), ManifestEntry("extra", 1, A),
                ManifestEntry("size", 4, A), ManifestEntry("digest", 1, A)]
    problems = compare_manifest(claimed, received)
    assert problems == [
        "missing: never uploaded",
        "extra: uploaded but not in the manifest",
        "digest: the manifest says sha256 3e23e8160039…, the server computed ca978112ca1b…",
        "size: the manifest says 5 bytes, the server stored 4",
    ]
    assert compare_manifest([ManifestEntry("same", 1, A)], received[:1]) == []


def test_the_version_digest_does_not_depend_on_order():
    assert manifest_digest([("b", B), ("a", A)]) == manifest_digest([("a", A), ("b", B)])
    assert manifest_digest([("a", A)]) != manifest_digest([("a", B)])


FILES = [("MLmodel", 10), ("data/conf.json", 3), ("data/deep/vocab.txt", 7), ("model.pkl", 99)]


def test_listing_a_folder_names_its_direct_children():
    assert list_folder(FILES, "") == [TreeEntry("MLmodel", False, 10),
                                      TreeEntry("data", True, None),
                                      TreeEntry("model.pkl", False, 99)]
    assert list_folder(FILES, "data") == [TreeEntry("conf.json", False, 3),
                                          TreeEntry("deep", True, None)]
    assert list_folder(FILES, "data/deep") == [TreeEntry("vocab.txt", False, 7)]


def test_listing_a_file_is_empty_and_a_missing_folder_is_none():
    assert list_folder(FILES, "model.pkl") == []
    assert list_folder(FILES, "nope") is None
    assert list_folder(FILES, "dat") is None  # a prefix of a name is not a folder


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 10, None),
    ("bytes=0-4", 10, (0, 5)),
    ("bytes=5-", 10, (5, 10)),
    ("bytes=-3", 10, (7, 10)),
    ("bytes=-30", 10, (0, 10)),
    ("bytes=8-100", 10, (8, 10)),
    ("bytes=0-0", 10, (0, 1)),
    ("items=0-4", 10, None),           # not bytes: ignored, the whole file is served
    ("bytes=0-1,4-5", 10, None),       # several ranges: ignored
    ("bytes=5-2", 10, None),           # malformed: ignored
    ("bytes=x-", 10, None),
])
def test_single_byte_ranges_are_parsed(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=11-20", 10),
                                              ("bytes=-0", 10), ("bytes=0-", 0)])
def test_ranges_past_the_end_are_unsatisfiable(header, size):
    with pytest.raises(ValueError):
        parse_range(header, size)
