"""Use case: import whole models from another registry (``charter import mlflow --apply``).

An imported version arrives in its stage directly — one ``version_imported`` event
says where it came from and which stage it took — instead of walking
None -> Staging -> Production through moves that never happened. The database's
invariants still hold: at most one Production version per model (checked here,
and by the partial unique index), numbers 1..n, names checked by the naming policy.
The whole import is one transaction: it happens entirely, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.errors import CharterError, Conflict, InvalidInput
from charter.domain.importing import ImportedModel, ImportedVersion
from charter.domain.lifecycle import Stage, parse_stage
from charter.domain.naming import Finding, check_addressable
from charter.domain.records import ModelRecord
from charter.domain.sources import check_source
from charter.domain.values import (
    check_alias,
    check_description,
    check_reason,
    check_run_id,
    check_tag,
)
from charter.service.base import ServiceBase
from charter.service.models import check_new_name, insert_model, redirect_to
from charter.store import models as stored_models
from charter.store import versions
from charter.store.database import WriteTx
from charter.store.models import ModelRow


class ImportsMixin(ServiceBase):
    def import_models(self, models: Sequence[ImportedModel]) -> list[ModelRecord]:
        """Create each model with its versions already in their stages, its tags,
        aliases and former names (as redirects), all in one transaction; admins only.

        An import writes versions straight into Production and events nobody can
        check against moves that happened here, so no per-model role covers it."""
        self._require_admin("import models")
        findings = [self._check_import(model) for model in models]
        with self._write() as tx:
            for model, found in zip(models, findings, strict=True):
                self._import_model(tx, model, found)
            return [stored_models.record(tx, model.name) for model in models]

    def _check_import(self, model: ImportedModel) -> list[Finding]:
        """Every value checked before the transaction opens, each error naming its place."""
        with _about(model.name):
            found = check_new_name(self, model.name)
            check_description(model.description)
            check_reason(model.reason, required=True)
            for key, value in model.tags.items():
                check_tag(key, value)
            for old, why in model.redirects.items():
                check_addressable(old)
                check_reason(why, required=True)
        numbers = [v.version for v in model.versions]
        if numbers != list(range(1, len(numbers) + 1)):
            raise InvalidInput(codes.IMPORT_INVALID, f"{model.name}: versions must be numbered "
                               f"1..{len(numbers)} in order", "number them without gaps")
        for version in model.versions:
            with _about(f"{model.name} v{version.version}"):
                self._check_version(version)
        production = [v.version for v in model.versions if v.stage == Stage.PRODUCTION]
        if len(production) > 1:
            listed = ", ".join(f"v{number}" for number in production)
            raise InvalidInput(codes.IMPORT_CONFLICT, f"{model.name}: {listed} would all be in "
                               "Production (at most one per model)",
                               "import the others as Archived or Staging")
        for alias, number in model.aliases.items():
            with _about(f"{model.name}@{alias}"):
                check_alias(alias)
            if number not in numbers:
                raise InvalidInput(codes.IMPORT_INVALID, f"{model.name}@{alias} points at "
                                   f"v{number}, which is not imported", "drop the alias")
        return found

    def _check_version(self, version: ImportedVersion) -> None:
        parse_stage(version.stage)
        if not version.source:
            raise InvalidInput(codes.VERSION_SOURCE_REQUIRED, "it has no source",
                               "an imported version must say where its bytes are")
        check_run_id(version.run_id)
        check_source(version.source, run_id=version.run_id, policy=self.policies.sources)
        check_description(version.description)
        check_reason(version.reason, required=True)
        for key, value in version.tags.items():
            check_tag(key, value)

    def _import_model(self, tx: WriteTx, imported: ImportedModel, findings: list[Finding]
                      ) -> None:
        model = insert_model(self, tx, imported.name, imported.description, findings,
                             imported.reason)
        if model.last_version:
            raise Conflict(
                codes.NAME_RETIRED, f"'{imported.name}' was deleted after giving out versions "
                f"1..{model.last_version}", "importing versions 1.. under it would give those "
                "numbers out twice; import under another name", {"name": imported.name})
        stored_models.set_imported(tx, model.id, created_at=imported.created_at,
                                   last_version=len(imported.versions))
        for key, value in sorted(imported.tags.items()):
            stored_models.set_tag(tx, model.id, key, value)
            tx.record(events.NewEvent(events.TAG_SET, model.name, reason=imported.reason,
                                      payload={"key": key, "value": value, "previous": None}))
        for version in imported.versions:
            self._import_version(tx, model, version)
        for alias, number in sorted(imported.aliases.items()):
            versions.set_alias(tx, model.id, alias.lower(), versions.id_of(tx, model.id, number))
            tx.record(events.NewEvent(events.ALIAS_SET, model.name, number,
                                      reason=imported.reason,
                                      payload={"alias": alias.lower(), "previous": None}))
        for old, why in sorted(imported.redirects.items()):
            redirect_to(self.principal, tx, old, model, why)

    def _import_version(self, tx: WriteTx, model: ModelRow, version: ImportedVersion) -> None:
        stage = parse_stage(version.stage).value
        # Written one at a time: the one-Production index sees every row as it is written.
        versions.insert(
            tx, model.id, version.version, model_name=model.name, stage=stage,
            source=version.source, run_id=version.run_id, description=version.description,
            digest="", now=tx.now, created_at=version.created_at,
            tags=version.tags.items())
        payload: dict[str, object] = {
            "source": version.source, "run_id": version.run_id, "digest": "",
            "description": version.description, "tags": dict(version.tags),
            "origin": version.origin}
        if version.note:
            payload["note"] = version.note
        tx.record(events.NewEvent(events.VERSION_IMPORTED, model.name, version.version,
                                  to_stage=stage, reason=version.reason, payload=payload))


@contextmanager
def _about(subject: str) -> Iterator[None]:
    """Prefix a refusal with what it is about: an import names many things at once."""
    try:
        yield
    except CharterError as error:
        error.message = f"{subject}: {error.message}"
        error.args = (error.message,)
        raise
