"""Use cases on versions: register (from a source or from files), describe, tag, alias, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from charter.artifacts.tree import local_files
from charter.domain import events
from charter.domain.access import ALIAS, DELETE, EDIT, READ, REGISTER
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.lifecycle import Stage, check_deletable, parse_stage
from charter.domain.manifest import manifest_digest
from charter.domain.naming import Finding
from charter.domain.records import VersionRecord
from charter.domain.sources import check_source
from charter.domain.uris import MAX_VERSION
from charter.domain.values import (
    check_alias,
    check_description,
    check_reason,
    check_run_id,
    check_tag,
)
from charter.service.base import Progress, tag_not_found
from charter.service.convert import naive
from charter.service.models import ModelsMixin
from charter.store import reads, tables
from charter.store import repository as repo
from charter.store.driver import sql_time

StoredFile = tuple[str, int, str]  # (relative path, size, sha256)


class VersionsMixin(ModelsMixin):
    def register(self, name: str, source: str = "", *, path: str | Path | None = None,
                 run_id: str = "", description: str = "", tags: dict[str, str] | None = None,
                 create_model: bool = True, reason: str = "",
                 progress: Progress | None = None) -> VersionRecord:
        """Register the next version of ``name``, from a source URI or a local file/folder.

        Files are stored (and hashed) before the version row is written, so a version
        is visible only once every file it names is in the blob store.
        """
        if bool(source) == bool(path):
            raise InvalidInput("version.source_required",
                               "Give exactly one of a source URI or a local path",
                               "e.g. charter register fraud_detector ./model_dir")
        findings = self._check_registration(name, source, run_id, description, tags,
                                            create_model)
        stored = self._store_files(Path(path), progress) if path else []
        return self._insert_version(name, source, run_id, description, tags or {},
                                    stored, create_model, findings, reason)

    def _check_registration(self, name: str, source: str, run_id: str, description: str,
                            tags: dict[str, str] | None, create_model: bool) -> list[Finding]:
        """Every check a registration passes before any byte is stored; the name's findings."""
        self._check_may_register(name, create_model)
        check_run_id(run_id)
        if source:
            check_source(source, run_id=run_id, policy=self.policies.sources)
        check_description(description)
        for key, value in (tags or {}).items():
            check_tag(key, value)
        # Only a model about to be created has its name checked; MLflow's surface never
        # creates one here, and an existing name was checked when it was created.
        return ([] if not create_model or repo_name_exists(self, name)
                else self._check_new_name(name))

    def _store_files(self, root: Path, progress: Progress | None) -> list[StoredFile]:
        stored = []
        for relative, file in local_files(root):
            digest, size = self.blobs.put_file(file, progress)
            stored.append((relative, size, digest))
        return stored

    def _insert_version(self, name, source, run_id, description, tags, stored, create_model,  # type: ignore[no-untyped-def]
                        findings, reason) -> VersionRecord:
        with self._write() as tx:
            sql = tx.sql()
            model: Any = reads.find_model_row(sql, name)
            if model is None:
                redirect = repo.find_redirect(tx.session, name)
                if redirect is not None or not create_model:
                    model, _ = reads.get_model_row(sql, name)
                    self._require(REGISTER, model)
                else:
                    model = self._insert_model(tx, name, "", findings, reason)
                    sql = tx.sql()  # the new model's row is written before its first version
            else:
                self._require(REGISTER, model)
            now = sql_time(sql, tx.now)
            number = sql.one("UPDATE models SET last_version = last_version + 1, updated_at = ? "
                             "WHERE id = ? RETURNING last_version", (now, model.id))[0]  # type: ignore[index]
            digest = manifest_digest([(p, d) for p, _, d in stored]) if stored else ""
            version_id = sql.one(
                "INSERT INTO versions (model_id, version, stage, source, run_id, description, "
                "digest, status, created_at, updated_at, stage_changed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'READY', ?, ?, ?) RETURNING id",
                (model.id, number, Stage.NONE.value, source, run_id, description, digest,
                 now, now, now))[0]  # type: ignore[index]
            for key, value in tags.items():
                sql.run("INSERT INTO version_tags (version_id, key, value) VALUES (?, ?, ?)",
                        (version_id, key, value))
            for path, size, sha256 in stored:
                sql.run("INSERT INTO version_files (version_id, path, size, sha256) "
                        "VALUES (?, ?, ?, ?)", (version_id, path, size, sha256))
            tx.record(events.NewEvent(
                events.VERSION_REGISTERED, model.name, number, to_stage=Stage.NONE.value,
                reason=reason, payload={"source": source, "run_id": run_id,
                                        "digest": digest, "files": len(stored)}))
            return reads.get_version_record(sql, model.name, number)

    def get_version(self, name: str, version: int | str) -> VersionRecord:
        with self._snapshot() as session:
            self._check_read(session, name)
            return reads.get_version_record(session, name, parse_version(version))

    def list_versions(self, name: str, *, stage: str | None = None) -> list[VersionRecord]:
        wanted = parse_stage(stage).value if stage is not None else None
        with self._snapshot() as session:
            model, _ = reads.get_model_row(session, name)
            self._require(READ, model)
            rows = reads.version_rows(session, model.id, stage=wanted, newest_first=True)
            return reads.version_records(session, model.name, model.id, rows)

    def update_version(self, name: str, version: int | str, *, description: str) -> VersionRecord:
        check_description(description)
        with self._write() as tx:
            model, via = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            row = repo.get_version(tx.session, model, parse_version(version), via=via)
            previous, row.description = row.description, description
            row.updated_at = naive(tx.now)
            tx.record(events.NewEvent(events.VERSION_UPDATED, model.name, row.version,
                                      payload={"description": description,
                                               "previous": previous}))
            tx.session.flush()
            return reads.get_version_record(tx.session, model.name, row.version)

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        check_tag(key, value)
        with self._write() as tx:
            model, via = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            row = repo.get_version(tx.session, model, parse_version(version), via=via)
            tag = tx.session.get(tables.VersionTag, (row.id, key))
            previous = tag.value if tag else None
            if tag is None:
                row.tags.append(tables.VersionTag(key=key, value=value))
            else:
                tag.value = value
            row.updated_at = naive(tx.now)
            tx.record(events.NewEvent(events.TAG_SET, model.name, row.version,
                                      payload={"key": key, "value": value,
                                               "previous": previous}))

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        with self._write() as tx:
            model, via = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            row = repo.get_version(tx.session, model, parse_version(version), via=via)
            tag = tx.session.get(tables.VersionTag, (row.id, key))
            if tag is None:
                raise tag_not_found(f"{model.name} v{row.version}", key)
            row.tags.remove(tag)
            tx.record(events.NewEvent(events.TAG_DELETED, model.name, row.version,
                                      payload={"key": key, "previous": tag.value}))

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        check_alias(alias)
        alias = alias.lower()
        with self._write() as tx:
            model, via = repo.get_model(tx.session, name)
            self._require(ALIAS, model)
            row = repo.get_version(tx.session, model, parse_version(version), via=via)
            existing = tx.session.get(tables.Alias, (model.id, alias))
            previous = existing.version.version if existing else None
            if existing is None:
                tx.session.add(tables.Alias(model_id=model.id, alias=alias, version_id=row.id))
            else:
                existing.version_id = row.id
            tx.session.flush()
            tx.session.expire(model, ["aliases"])
            tx.record(events.NewEvent(events.ALIAS_SET, model.name, row.version,
                                      payload={"alias": alias, "previous": previous}))

    def delete_alias(self, name: str, alias: str) -> None:
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(ALIAS, model)
            existing = tx.session.get(tables.Alias, (model.id, alias.lower()))
            if existing is None:
                raise alias_not_found(model.name, alias)
            number = existing.version.version
            tx.session.delete(existing)
            tx.record(events.NewEvent(events.ALIAS_DELETED, model.name, number,
                                      payload={"alias": alias.lower()}))

    def get_version_by_alias(self, name: str, alias: str) -> VersionRecord:
        with self._snapshot() as session:
            model, _ = reads.get_model_row(session, name)
            self._require(READ, model)
            number = reads.alias_target(session, model.id, alias)
            if number is None:
                raise alias_not_found(model.name, alias)
            return reads.get_version_record(session, model.name, number)

    def delete_version(self, name: str, version: int | str, *, reason: str) -> None:
        """Delete an Archived version; its number is never given out again."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, via = repo.get_model(tx.session, name)
            self._require(DELETE, model)
            row = repo.get_version(tx.session, model, parse_version(version), via=via)
            check_deletable(Stage(row.stage), name=model.name, version=row.version)
            tx.session.delete(row)
            model.updated_at = naive(tx.now)
            tx.record(events.NewEvent(events.VERSION_DELETED, model.name, row.version,
                                      from_stage=row.stage, reason=reason,
                                      payload={"digest": row.digest, "source": row.source}))


def repo_name_exists(service: ModelsMixin, name: str) -> bool:
    with service.db.read() as session:
        return (repo.find_model(session, name) or repo.find_redirect(session, name)) is not None


def alias_not_found(model: str, alias: str) -> NotFound:
    return NotFound("alias.not_found", f"{model} has no alias '{alias}'",
                    f"set it with `charter alias {model} {alias} VERSION`", {"alias": alias})


def parse_version(version: int | str) -> int:
    text = str(version).strip()
    if text.lower().startswith("v"):
        text = text[1:]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise InvalidInput("version.invalid", f"'{version}' is not a version number",
                           f"versions are whole numbers from 1 to {MAX_VERSION}, e.g. 3 or v3")
    return int(text)

