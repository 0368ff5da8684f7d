"""What a model signature binds compared with a version's stored digests."""

from __future__ import annotations

import pytest

from charter.domain.errors import InvalidInput
from charter.domain.signed_files import (
    SignedManifest,
    SignedResource,
    check_signed_files,
    compare_signed,
)
from charter.domain.signers import KEY, Signer

A, B, C = "a" * 64, "b" * 64, "c" * 64
SIGNER = Signer(KEY, "sha256:" + "1" * 64)
FILES = [("model.pkl", A), ("conf/params.json", B)]


def signed(*resources: tuple[str, str], algorithm: str = "sha256", method: str = "files",
           hash_type: str = "sha256") -> SignedManifest:
    return SignedManifest(SIGNER, method, hash_type,
                          tuple(SignedResource(p, algorithm, d) for p, d in resources))


@pytest.mark.parametrize(("resources", "problems"), [
    ([("model.pkl", A), ("conf/params.json", B)], []),
    ([("model.pkl", A.upper()), ("conf/params.json", B)], []),      # hex case does not matter
    ([("model.pkl", A)], ["conf/params.json: in the version but not signed"]),
    ([("model.pkl", A), ("conf/params.json", B), ("extra.bin", C)],
     ["extra.bin: signed but not in the version"]),
    ([("model.pkl", C), ("conf/params.json", B)],
     ["model.pkl: the signature says sha256 cccccccccccc…, the stored file is aaaaaaaaaaaa…"]),
    ([("MODEL.pkl", A), ("conf/params.json", B)],                   # paths are exact
     ["MODEL.pkl: signed but not in the version", "model.pkl: in the version but not signed"]),
])
def test_every_difference_between_signature_and_files_is_named(
        resources: list[tuple[str, str]], problems: list[str]) -> None:
    assert compare_signed(signed(*resources).resources, FILES) == problems


def test_a_version_whose_files_differ_from_the_signed_digests_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_signed_files(signed(("model.pkl", C), ("conf/params.json", B)), FILES,
                           subject="fraud_detector/3")
    assert refused.value.code == "signature.files_mismatch"
    assert "fraud_detector/3" in refused.value.message and "model.pkl" in refused.value.message
    assert refused.value.details["problems"]


@pytest.mark.parametrize(("method", "hash_type"), [("shards", "sha256"), ("files", "blake2")])
def test_manifests_that_need_the_bytes_rehashed_are_refused_with_how_to_resign(
        method: str, hash_type: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_signed_files(signed(("model.pkl", A), ("conf/params.json", B), method=method,
                                  hash_type=hash_type), FILES, subject="m/1")
    assert refused.value.code == "signature.unsupported"
    assert "sha256" in refused.value.hint


def test_a_resource_signed_with_another_algorithm_is_a_problem() -> None:
    problems = compare_signed(signed(("model.pkl", A), ("conf/params.json", B),
                                     algorithm="blake3").resources, FILES)
    assert problems == ["conf/params.json: signed with blake3, not sha256",
                        "model.pkl: signed with blake3, not sha256"]
