"""Use cases on registered models: create, rename, describe, tag, delete, read."""

from __future__ import annotations

import base64

from sqlalchemy import select

from charter.domain import events
from charter.domain.access import CREATE_MODEL, DELETE, EDIT, RENAME
from charter.domain.errors import AlreadyExists, Conflict, InvalidInput
from charter.domain.naming import Finding, check_addressable, check_name
from charter.domain.records import ModelRecord, Page
from charter.domain.values import check_description, check_reason, check_tag
from charter.service.base import tag_not_found
from charter.service.convert import naive
from charter.service.guard import GuardMixin
from charter.store import reads, tables
from charter.store import repository as repo
from charter.store.database import WriteTx

MAX_PAGE = 1000


class ModelsMixin(GuardMixin):
    def create_model(self, name: str, *, description: str = "",
                     tags: dict[str, str] | None = None, reason: str = "") -> ModelRecord:
        findings = self._check_new_name(name)
        check_description(description)
        for key, value in (tags or {}).items():
            check_tag(key, value)
        with self._write() as tx:
            model = self._insert_model(tx, name, description, findings, reason)
            for key, value in (tags or {}).items():
                model.tags.append(tables.ModelTag(key=key, value=value))
            tx.session.flush()
            return self._record(tx.session, model.name)

    def _check_new_name(self, name: str) -> list[Finding]:
        return check_name(name, self.policies.naming)

    def _insert_model(self, tx: WriteTx, name: str, description: str,
                      findings: list[Finding], reason: str) -> tables.Model:
        self._require_registry(CREATE_MODEL)
        key = repo.name_key(name)
        self._refuse_taken_name(tx, name)
        now = naive(tx.now)
        model = tables.Model(name=name, name_key=key, description=description,
                             last_version=repo.retired_counter(tx.session, key),
                             created_at=now, updated_at=now)
        tx.session.add(model)
        tx.session.flush()
        payload = {"description": description}
        if findings:
            payload["naming_findings"] = [f.to_dict() for f in findings]
        tx.record(events.NewEvent(events.MODEL_CREATED, name, reason=reason, payload=payload))
        self._grant_creator(tx, model)
        return model

    def _refuse_taken_name(self, tx: WriteTx, name: str, *, renaming: tables.Model | None = None
                           ) -> None:
        existing = repo.find_model(tx.session, name)
        if existing is not None and existing is not renaming:
            raise AlreadyExists(
                "model.exists", f"A model named '{existing.name}' already exists",
                "names are unique regardless of case; register a new version of it instead",
                {"name": existing.name})
        redirect = repo.find_redirect(tx.session, name)
        if redirect is not None and (renaming is None or redirect.model_id != renaming.id):
            target = tx.session.get_one(tables.Model, redirect.model_id)
            raise AlreadyExists(
                "name.redirected",
                f"'{name}' is a former name of '{target.name}' and still resolves to it",
                f"deployments may still use models:/{name}/…; pick another name or "
                f"delete '{target.name}' first", {"name": name, "redirects_to": target.name})

    def _refuse_retired_name(self, tx: WriteTx, new_name: str, model: tables.Model) -> None:
        """A deleted name's numbers were given out: another model may not take them over."""
        key = repo.name_key(new_name)
        given_out = repo.retired_counter(tx.session, key)
        if key != model.name_key and given_out:
            raise Conflict(
                "name.retired",
                f"'{new_name}' was deleted after giving out versions 1..{given_out}",
                f"renaming {model.name} onto it would make models:/{new_name}/1 name other "
                f"bytes; pick another name, or register new versions under '{new_name}' "
                f"(they continue at v{given_out + 1})", {"name": new_name})

    def get_model(self, name: str) -> ModelRecord:
        with self._snapshot() as session:
            self._check_read(session, name)
            return self._record(session, name)

    def _record(self, session, name: str) -> ModelRecord:  # type: ignore[no-untyped-def]
        row, _ = reads.get_model_row(session, name)
        return reads.model_records(session, [row])[0]

    def list_models(self, *, name_like: str = "", max_results: int = 100,
                    page_token: str = "") -> Page:
        """Models ordered by name; ``name_like`` is a case-insensitive substring."""
        offset = decode_page_token(page_token)
        limit = clamp_page_size(max_results)
        with self._read() as session:
            query = (select(reads.M).where(*self._visible(reads.M.c.id))
                     .order_by(reads.M.c.name_key))
            if name_like:
                query = query.where(reads.M.c.name_key.contains(name_like.lower(),
                                                                 autoescape=True))
            rows = list(session.execute(query.offset(offset).limit(limit + 1)))
            more = len(rows) > limit
            items = reads.model_records(session, rows[:limit])
            return Page(items, encode_page_token(offset + limit) if more else "")

    def rename_model(self, name: str, new_name: str, *, reason: str = "") -> ModelRecord:
        """Rename; the old name becomes a redirect so ``models:/old/…`` keeps resolving."""
        findings = self._check_new_name(new_name)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name, follow_redirects=False)
            self._require(RENAME, model)
            self._refuse_taken_name(tx, new_name, renaming=model)
            self._refuse_retired_name(tx, new_name, model)
            old_name, old_key = model.name, model.name_key
            stale = repo.find_redirect(tx.session, new_name)
            if stale is not None:  # renaming back to a former name takes it back
                tx.session.delete(stale)
            if repo.name_key(new_name) != old_key:
                tx.session.add(tables.Redirect(name_key=old_key, name=old_name,
                                               model_id=model.id))
            model.name, model.name_key = new_name, repo.name_key(new_name)
            model.updated_at = naive(tx.now)
            tx.session.flush()
            payload = {"from": old_name, "to": new_name}
            if findings:
                payload["naming_findings"] = [f.to_dict() for f in findings]
            tx.record(events.NewEvent(events.MODEL_RENAMED, new_name, reason=reason,
                                      payload=payload))
            return self._record(tx.session, model.name)

    def update_model(self, name: str, *, description: str, reason: str = "") -> ModelRecord:
        check_description(description)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            previous, model.description = model.description, description
            model.updated_at = naive(tx.now)
            tx.record(events.NewEvent(events.MODEL_UPDATED, model.name, reason=reason,
                                      payload={"description": description,
                                               "previous": previous}))
            return self._record(tx.session, model.name)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        check_tag(key, value)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            tag = tx.session.get(tables.ModelTag, (model.id, key))
            previous = tag.value if tag else None
            if tag is None:
                model.tags.append(tables.ModelTag(key=key, value=value))
            else:
                tag.value = value
            model.updated_at = naive(tx.now)
            tx.record(events.NewEvent(events.TAG_SET, model.name,
                                      payload={"key": key, "value": value,
                                               "previous": previous}))

    def delete_model_tag(self, name: str, key: str) -> None:
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name)
            self._require(EDIT, model)
            tag = tx.session.get(tables.ModelTag, (model.id, key))
            if tag is None:
                raise tag_not_found(model.name, key)
            model.tags.remove(tag)
            tx.record(events.NewEvent(events.TAG_DELETED, model.name,
                                      payload={"key": key, "previous": tag.value}))

    def delete_model(self, name: str, *, reason: str) -> None:
        """Delete a model with no live versions; the name keeps its version counter."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name, follow_redirects=False)
            self._require(DELETE, model)
            live = [(v, s) for v, s in reads.stage_map(tx.session, [model.id])[model.id]
                    if s in ("Staging", "Production")]
            if live:
                listed = ", ".join(f"v{v} ({s})" for v, s in live)
                raise Conflict("model.not_deletable",
                               f"{model.name} still has live versions: {listed}",
                               "archive them first; a model is deleted only when none of its "
                               "versions is in Staging or Production",
                               {"name": model.name, "live": [v for v, _ in live]})
            repo.retire_name(tx.session, model.name_key, model.last_version)
            for key in repo.redirect_names_keys(tx.session, model.id):
                repo.retire_name(tx.session, key, model.last_version)
            tx.session.delete(model)
            tx.record(events.NewEvent(events.MODEL_DELETED, model.name, reason=reason,
                                      payload={"last_version": model.last_version}))

    def add_redirect(self, old_name: str, name: str, *, reason: str) -> ModelRecord:
        """Make ``old_name`` resolve to the model ``name``, as a rename's old name does.

        An admin's (it serves ``charter import``): the old name is taken from the whole
        registry's name space, not only from the model's."""
        reason = check_reason(reason, required=True)
        self._require_admin("add redirects")
        with self._write() as tx:
            model, _ = repo.get_model(tx.session, name, follow_redirects=False)
            self._add_redirect(tx, old_name, model, reason)
            return self._record(tx.session, model.name)

    def _add_redirect(self, tx: WriteTx, old_name: str, model: tables.Model, reason: str
                      ) -> None:
        check_addressable(old_name)
        self._refuse_taken_name(tx, old_name)
        given_out = repo.retired_counter(tx.session, repo.name_key(old_name))
        if given_out:
            raise Conflict(
                "name.retired", f"'{old_name}' was deleted after giving out versions "
                f"1..{given_out}", f"a redirect would make models:/{old_name}/1 name other "
                "bytes; leave the old name retired", {"name": old_name})
        tx.session.add(tables.Redirect(name_key=repo.name_key(old_name), name=old_name,
                                       model_id=model.id))
        tx.session.flush()
        tx.record(events.NewEvent(events.REDIRECT_ADDED, model.name, reason=reason,
                                  payload={"name": old_name}))


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, value = text.split(":", 1)
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError(text)
        return offset
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("page_token.invalid", f"'{token}' is not a page token",
                           "pass the next_page_token of the previous page unchanged") from exc


def clamp_page_size(max_results: int) -> int:
    if not isinstance(max_results, int) or max_results < 1 or max_results > MAX_PAGE:
        raise InvalidInput("max_results.invalid", f"max_results must be 1..{MAX_PAGE}, "
                           f"got {max_results!r}", f"ask for at most {MAX_PAGE} per page")
    return max_results
