"""Moving registries (issue 8): export a whole Charter registry and import it elsewhere.

The round trip runs on both databases, and SQLite -> PostgreSQL -> SQLite must give
byte-identical exports. The audit chain travels verbatim and verifies after the
import; an export that was altered is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.provenance_kit import make_key, model_folder, sign_with_key, statement

from charter.bootstrap import build_service
from charter.domain.access import Principal, Role
from charter.domain.archive import FILES, MANIFEST
from charter.domain.errors import Conflict, IntegrityFailure, InvalidInput, PermissionDenied
from charter.domain.events import chain_hash
from charter.domain.importing import ImportedModel, ImportedVersion
from charter.service import RegistryService
from charter.store import bulk

Fresh = Callable[[str], RegistryService]
WHEN = datetime(2024, 10, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def fresh(request: pytest.FixtureRequest, tmp_path: Path, make_settings: Callable[..., Any],
          sqlite_template: Path) -> Iterator[Fresh]:
    """Makes empty registries of either kind, each with a blob store of its own."""
    built: list[RegistryService] = []
    postgres: list[tuple[Any, str]] = []

    def make(kind: str) -> RegistryService:
        number = len(built)
        if kind == "sqlite":
            path = tmp_path / f"fresh-{number}.db"
            shutil.copyfile(sqlite_template, path)
            url = f"sqlite:///{path}"
        else:
            databases = request.getfixturevalue("postgres_databases")
            name, url = databases.create()
            postgres.append((databases, name))
        service = build_service(make_settings(url, blob_root=tmp_path / f"blobs-{number}"),
                                actor="mover", migrate=False)
        built.append(service)
        return service

    yield make
    for service in built:
        service.db.dispose()
    for databases, name in postgres:
        databases.drop(name)


def populate(registry: RegistryService, tmp_path: Path) -> None:
    """A registry with every kind of row and event: files, stages, a rollback, aliases,
    tags, a rename (redirect), a deleted version and a deleted model (tombstone), and
    an import (folded names)."""
    folder = tmp_path / "trained"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "model.pkl").write_bytes(bytes(range(256)) * 50)
    (folder / "data" / "conf.json").write_text('{"threshold": 0.7}')
    registry.register("fraud_detector", path=folder, description="first cut — ünïcode\nline 2")
    (folder / "model.pkl").write_bytes(b"retrained" * 1000)
    registry.register("fraud_detector", path=folder, tags={"auc": "0.91"})
    registry.register("fraud_detector", "s3://models-bucket/fraud/3", run_id="")
    for version, stage in [(1, "Staging"), (1, "Production"), (2, "Staging")]:
        registry.transition("fraud_detector", version, stage, reason=f"move {version}")
    registry.transition("fraud_detector", 2, "Production", archive_existing=True,
                        reason="beat v1 on AUC \"by far\"")
    registry.rollback("fraud_detector", reason="latency regression")
    registry.set_alias("fraud_detector", "champion", 1)
    registry.set_model_tag("fraud_detector", "team", "risk")
    registry.update_model("fraud_detector", description="Scores card payments")
    registry.rename_model("fraud_detector", "fraud_scorer", reason="name the product")
    for _ in range(2):
        registry.register("churn_predictor", "s3://models-bucket/churn/x")
    registry.transition("churn_predictor", 1, "Staging", reason="try")
    registry.transition("churn_predictor", 1, "Archived", reason="worse")
    registry.delete_version("churn_predictor", 1, reason="bad data")
    registry.delete_model("churn_predictor", reason="product retired")
    registry.import_models([imported_model("payments_risk_model", ["Archived", "Production"],
                                           redirects=("payments_v1", "payments_final"))])
    sign_and_attest(registry, tmp_path)
    declare_interfaces(registry)


INTERFACE = {"inputs": [{"name": "amount", "type": "double"}],
             "outputs": [{"name": "score", "type": "double"}]}


def declare_interfaces(registry: RegistryService) -> None:
    """A version with an interface and MLflow 3's model id (export format 3)."""
    registry.register("fraud_scorer", "s3://models-bucket/fraud/4", interface=INTERFACE,
                      model_id="m-0123456789abcdef0123456789abcdef")
    registry.set_interface("fraud_scorer", 3, INTERFACE)


def sign_and_attest(registry: RegistryService, tmp_path: Path) -> None:
    """A signed version, its allowed signers and an attestation (export format 2)."""
    signed = model_folder(tmp_path / "signed")
    key = make_key(tmp_path / "keys", "release")
    registry.register("card_scoring", path=signed, signer_key=key.public_path,
                      signature=sign_with_key(signed, key, tmp_path / "signed.sig"))
    registry.edit_signers("card_scoring", add=["certificate:O=Acme,CN=release-bot"],
                          reason="the release bot signs too")
    weights = hashlib.sha256((signed / "model.pkl").read_bytes()).hexdigest()
    registry.attest("card_scoring", 1, json.dumps(statement({"model.pkl": weights})).encode())


def imported_model(name: str, stages: list[str], *, redirects: tuple[str, ...]
                   ) -> ImportedModel:
    """A model as ``charter import mlflow`` hands it to the service (numbers unchanged)."""
    url = "http://mlflow:5000"
    return ImportedModel(
        name=name, description="imported", tags={"team": "payments"}, aliases={},
        created_at=WHEN,
        versions=tuple(ImportedVersion(
            version=number, stage=stage, source=f"s3://models-bucket/{name}/{number}",
            run_id="", description=f"old v{number}", tags={"origin": "mlflow"},
            created_at=WHEN, reason=f"imported from MLflow {url}: {redirects[0]} v{number}",
            origin={"registry": "mlflow", "url": url, "name": redirects[0], "version": number})
            for number, stage in enumerate(stages, start=1)),
        redirects={old: f"imported from MLflow {url}: {old}" for old in redirects},
        reason=f"imported from MLflow {url}: {', '.join(redirects)}",
        origin={"registry": "mlflow", "url": url})


def folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def assert_identical(first: Path, second: Path) -> None:
    one, two = folder_bytes(first), folder_bytes(second)
    assert sorted(one) == sorted(two)
    for name in one:
        assert one[name] == two[name], f"{name} differs"


def test_export_then_import_gives_the_same_registry_and_an_identical_export(
        registry, fresh, backend, tmp_path):
    populate(registry, tmp_path)
    first = tmp_path / "first"
    manifest = registry.export_registry(first)
    assert manifest["files"]["events.jsonl"]["lines"] == registry.events(limit=1000)[-1].seq

    target = fresh(backend)
    target.import_registry(first)
    target.export_registry(tmp_path / "second")

    assert_identical(first, tmp_path / "second")
    assert target.verify_audit().ok
    assert target.events(limit=1000) == registry.events(limit=1000)  # hashes and all
    for name in ("fraud_scorer", "payments_risk_model", "card_scoring"):
        assert target.get_model(name) == registry.get_model(name)
        assert target.list_versions(name) == registry.list_versions(name)
    assert target.signers("card_scoring") == registry.signers("card_scoring")
    assert target.attestations("card_scoring", 1) == registry.attestations("card_scoring", 1)
    assert target.signature_bundle("card_scoring", 1) == registry.signature_bundle(
        "card_scoring", 1)
    for version in (3, 4):
        assert target.get_interface("fraud_scorer", version) == registry.get_interface(
            "fraud_scorer", version)
    assert target.get_version("fraud_scorer", 4).model_id.startswith("m-0123")


@pytest.mark.postgres
def test_sqlite_to_postgres_to_sqlite_gives_byte_identical_exports(fresh, tmp_path):
    source = fresh("sqlite")
    populate(source, tmp_path)
    source.export_registry(tmp_path / "from-sqlite")
    postgres = fresh("postgres")
    postgres.import_registry(tmp_path / "from-sqlite")
    postgres.export_registry(tmp_path / "from-postgres")
    back = fresh("sqlite")
    back.import_registry(tmp_path / "from-postgres")
    back.export_registry(tmp_path / "back-in-sqlite")

    assert_identical(tmp_path / "from-sqlite", tmp_path / "from-postgres")
    assert_identical(tmp_path / "from-sqlite", tmp_path / "back-in-sqlite")
    assert postgres.verify_audit().ok and back.verify_audit().ok


def test_the_export_holds_files_blobs_tombstones_and_redirects(registry, tmp_path):
    populate(registry, tmp_path)
    manifest = registry.export_registry(tmp_path / "out")
    lines = {name: (tmp_path / "out" / name).read_text().splitlines() for name in FILES}
    assert [json.loads(row) for row in lines["retired_names.jsonl"]] == [
        {"name_key": "churn_predictor", "last_version": 2}]
    assert {json.loads(row)["name"] for row in lines["redirects.jsonl"]} == {
        "fraud_detector", "payments_final", "payments_v1"}
    files = [f for row in lines["versions.jsonl"] for f in json.loads(row)["files"]]
    # conf.json is shared by v1 and v2; card_scoring adds 2 files, its signature and an
    # attestation
    assert len(files) == 6 and manifest["blobs"] == 3 + 2 + 2
    assert [json.loads(row)["model"] for row in lines["signatures.jsonl"]] == ["card_scoring"]
    assert len(lines["signers.jsonl"]) == 2 and len(lines["attestations.jsonl"]) == 1
    for file in files:
        blob = tmp_path / "out" / "blobs" / "sha256" / file["sha256"][:2] / file["sha256"][2:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == file["sha256"]
    assert all(row == json.dumps(json.loads(row), sort_keys=True, ensure_ascii=False,
                                 separators=(",", ":")) for rows in lines.values() for row in rows)


def test_an_imported_registry_keeps_its_contracts(registry, fresh, backend, tmp_path):
    populate(registry, tmp_path)
    registry.export_registry(tmp_path / "out")
    target = fresh(backend)
    target.import_registry(tmp_path / "out")

    # A tombstone keeps its counter; numbers continue; the redirect still resolves.
    assert target.register("churn_predictor", "s3://models-bucket/churn/y").version == 3
    assert target.register("fraud_scorer", "s3://models-bucket/fraud/5").version == 5
    resolution = target.resolve("models:/fraud_detector/Production")
    assert (resolution.version.name, resolution.version.version) == ("fraud_scorer", 1)
    assert resolution.warnings
    # Rollback reads the imported history: v2 was Production before v1 came back.
    target.transition("fraud_scorer", 2, "Archived", reason="park it")
    assert target.rollback("fraud_scorer", reason="again").version == 2
    # Folded names keep mapping their old numbers.
    assert target.resolve("models:/payments_v1/2").version.version == 2
    assert target.verify_audit().ok


def test_import_into_a_non_empty_registry_is_refused_and_changes_nothing(
        registry, fresh, backend, tmp_path, given):
    populate(registry, tmp_path)
    registry.export_registry(tmp_path / "out")
    before = given.state()
    with pytest.raises(Conflict) as refused:
        registry.import_registry(tmp_path / "out")
    assert refused.value.code == "import.not_empty"
    assert given.state() == before

    target = fresh(backend)
    target.create_model("search_ranker")
    with pytest.raises(Conflict):
        target.import_registry(tmp_path / "out")
    assert [m.name for m in target.list_models().items] == ["search_ranker"]


def rewrite_events(folder: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Play an attacker who edits events.jsonl and fixes up the manifest's checksum."""
    path = folder / "events.jsonl"
    events = [json.loads(row) for row in path.read_text().splitlines()]
    change(events)
    data = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                   + "\n" for e in events).encode()
    path.write_bytes(data)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["events.jsonl"] = {"lines": len(events),
                                         "sha256": hashlib.sha256(data).hexdigest()}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def edit_reason(events: list[dict[str, Any]]) -> None:
    events[2]["reason"] = "nothing to see here"


def edit_and_rehash(events: list[dict[str, Any]]) -> None:
    event = events[2]
    event["actor"] = "someone-else"
    fields = {k: event[k] for k in ("seq", "time", "actor", "action", "model", "version",
                                    "from_stage", "to_stage", "reason", "correlation_id")}
    event["hash"] = chain_hash(event["prev_hash"], {**fields,
                                                    "payload": json.loads(event["payload"])})


def drop_last(events: list[dict[str, Any]]) -> None:
    events.pop()


@pytest.mark.parametrize("change, seq, problem", [
    (edit_reason, 3, "its content does not match its hash"),
    (edit_and_rehash, 4, "prev_hash does not match"),
    (drop_last, None, "chain head"),
])
def test_an_altered_export_is_refused_before_anything_is_written(
        registry, fresh, backend, tmp_path, change, seq, problem):
    populate(registry, tmp_path)
    registry.export_registry(tmp_path / "out")
    rewrite_events(tmp_path / "out", change)
    target = fresh(backend)
    with pytest.raises(IntegrityFailure) as refused:
        target.import_registry(tmp_path / "out")
    assert refused.value.code == "archive.chain_broken" and problem in refused.value.message
    if seq is not None:
        assert refused.value.details["seq"] == seq
    with target.db.read() as session:
        assert bulk.is_empty(session)
    assert (tmp_path / "blobs-0").is_dir()  # the target's own blob store…
    assert not any((tmp_path / "blobs-0").rglob("sha256/*/*"))  # …got no blob either


def test_an_export_edited_without_fixing_its_manifest_is_corrupt(registry, fresh, backend,
                                                                  tmp_path):
    populate(registry, tmp_path)
    registry.export_registry(tmp_path / "out")
    models = tmp_path / "out" / "models.jsonl"
    models.write_text(models.read_text().replace("fraud_scorer", "fraud_scorer2"))
    with pytest.raises(IntegrityFailure) as refused:
        fresh(backend).import_registry(tmp_path / "out")
    assert refused.value.code == "archive.corrupt" and "models.jsonl" in refused.value.message


def test_a_blob_with_other_bytes_is_refused(registry, fresh, backend, tmp_path):
    populate(registry, tmp_path)
    registry.export_registry(tmp_path / "out")
    blob = next((tmp_path / "out" / "blobs").rglob("sha256/*/*"))
    blob.chmod(0o644)
    blob.write_bytes(b"not the model")
    with pytest.raises(IntegrityFailure) as refused:
        fresh(backend).import_registry(tmp_path / "out")
    assert refused.value.code == "archive.corrupt"


def test_an_unknown_format_version_and_a_missing_manifest_are_refused(registry, tmp_path):
    registry.export_registry(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    (tmp_path / "out" / MANIFEST).write_text(json.dumps({**manifest, "format_version": 4}))
    with pytest.raises(InvalidInput) as refused:
        registry.import_registry(tmp_path / "out")
    assert refused.value.code == "archive.unsupported"
    with pytest.raises(InvalidInput) as missing:
        registry.import_registry(tmp_path)
    assert missing.value.code == "archive.not_found"


def test_export_refuses_a_folder_that_is_not_empty(registry, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput) as refused:
        registry.export_registry(tmp_path / "out")
    assert refused.value.code == "export.not_empty"


def test_an_empty_registry_round_trips(registry, fresh, backend, tmp_path):
    registry.export_registry(tmp_path / "a")
    target = fresh(backend)
    target.import_registry(tmp_path / "a")
    target.export_registry(tmp_path / "b")
    assert_identical(tmp_path / "a", tmp_path / "b")


def test_an_imported_registry_finds_its_models_by_a_part_of_the_name(
        registry, fresh, backend, tmp_path):
    """The listing's substring filter reads the name suffixes (store/models.py), which
    an import writes with each model."""
    for name in ("fraud_scorer", "churn_ranker"):
        registry.create_model(name)
    registry.export_registry(tmp_path / "a")
    target = fresh(backend)
    target.import_registry(tmp_path / "a")
    assert [m.name for m in target.list_models(name_like="ud_sc").items] == ["fraud_scorer"]


def test_only_an_admin_exports_or_imports_a_registry(registry, fresh, backend, tmp_path):
    """An export holds every model and an import writes history nobody can check against
    moves made here: no per-model role covers either."""
    reader = registry.as_principal(Principal(name="bob", user_id=7,
                                             registry_role=Role.OWNER))
    with pytest.raises(PermissionDenied) as export:
        reader.export_registry(tmp_path / "out")
    assert export.value.code == "access.admin_only" and not (tmp_path / "out").exists()
    registry.export_registry(tmp_path / "out")
    target = fresh(backend)
    with pytest.raises(PermissionDenied) as load:
        target.as_principal(Principal(name="bob", user_id=7, registry_role=Role.OWNER)
                            ).import_registry(tmp_path / "out")
    assert load.value.code == "access.admin_only"
    assert target.list_models().items == []


def test_an_export_of_format_1_still_imports(registry, fresh, backend, tmp_path):
    """Exports written before signed versions (format 1) have no provenance files."""
    registry.register("fraud_detector", "s3://models-bucket/fraud/1")
    registry.export_registry(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    for name in ("signatures.jsonl", "signers.jsonl", "attestations.jsonl",
                 "interfaces.jsonl", "model_ids.jsonl"):
        (tmp_path / "out" / name).unlink()
        del manifest["files"][name]
    (tmp_path / "out" / MANIFEST).write_text(json.dumps({**manifest, "format_version": 1}))
    target = fresh(backend)
    target.import_registry(tmp_path / "out")
    assert target.list_versions("fraud_detector") == registry.list_versions("fraud_detector")
