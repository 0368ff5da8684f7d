"""Use cases on registered models: create, rename, describe, tag, delete, read."""

from __future__ import annotations

import base64

from charter.domain import error_codes as codes
from charter.domain import events
from charter.domain.access import CREATE_MODEL, DELETE, EDIT, RENAME, Principal
from charter.domain.errors import AlreadyExists, Conflict, InvalidInput
from charter.domain.lifecycle import Stage
from charter.domain.naming import Finding, check_addressable, check_name
from charter.domain.paging import MAX_PAGE as MAX_PAGE  # search and the tests import both here
from charter.domain.paging import ModelFilter, after_key
from charter.domain.paging import clamp_page_size as clamp_page_size
from charter.domain.records import ModelRecord, Page
from charter.domain.values import check_description, check_reason, check_tag
from charter.service.base import ServiceBase, tag_not_found
from charter.service.consumer_reports import check_not_served
from charter.store import model_listing, models, versions
from charter.store.database import WriteTx
from charter.store.models import ModelRow


class ModelsMixin(ServiceBase):
    def create_model(self, name: str, *, description: str = "",
                     tags: dict[str, str] | None = None, reason: str = "") -> ModelRecord:
        findings = check_new_name(self, name)
        check_description(description)
        for key, value in (tags or {}).items():
            check_tag(key, value)
        with self._write() as tx:
            model = insert_model(self, tx, name, description, findings, reason)
            for key, value in (tags or {}).items():
                models.set_tag(tx, model.id, key, value)
            return models.record(tx, model.name)

    def get_model(self, name: str) -> ModelRecord:
        return read_model(self, name)

    def list_models(self, *, name_like: str = "", tag: str = "", stage: str = "",
                    max_results: int = 100, page_token: str = "") -> Page:
        """Models ordered by name; ``name_like`` a case-insensitive substring, ``tag`` a
        tag key or ``key=value``, ``stage`` a stage one of the model's versions is in.
        The filters run in SQL and a page resumes after the last name (a keyset token),
        so every page costs the same however far down the list it is."""
        only = ModelFilter.parse(name_like, tag, stage)
        after = after_key(page_token)
        limit = clamp_page_size(max_results)
        with self._read() as reader:
            return model_listing.listing(reader, readable=self._readable_ids(), after=after,
                                  limit=limit, only=only)

    def rename_model(self, name: str, new_name: str, *, reason: str = "") -> ModelRecord:
        """Rename; the old name becomes a redirect so ``models:/old/…`` keeps resolving."""
        findings = check_new_name(self, new_name)
        with self._write() as tx:
            model, _ = models.get(tx, name, follow_redirects=False)
            self._require(RENAME, model)
            refuse_taken_name(self.principal, tx, new_name, renaming=model)
            refuse_retired_name(tx, new_name, model)
            if models.redirect_of(tx, new_name) is not None:
                models.drop_redirect(tx, new_name)  # renaming back to a former name takes it back
            if models.name_key(new_name) != model.name_key:
                models.add_redirect(tx, model.name, model.id)
            models.rename(tx, model.id, new_name, tx.now)
            payload: dict[str, object] = {"from": model.name, "to": new_name}
            if findings:
                payload["naming_findings"] = [f.to_dict() for f in findings]
            tx.record(events.NewEvent(events.MODEL_RENAMED, new_name, reason=reason,
                                      payload=payload))
            return models.record(tx, new_name)

    def update_model(self, name: str, *, description: str, reason: str = "") -> ModelRecord:
        check_description(description)
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(EDIT, model)
            models.set_description(tx, model.id, description, tx.now)
            tx.record(events.NewEvent(events.MODEL_UPDATED, model.name, reason=reason,
                                      payload={"description": description,
                                               "previous": model.description}))
            return models.record(tx, model.name)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        check_tag(key, value)
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(EDIT, model)
            previous = models.tag(tx, model.id, key)
            models.set_tag(tx, model.id, key, value)
            models.touch(tx, model.id, tx.now)
            tx.record(events.NewEvent(events.TAG_SET, model.name,
                                      payload={"key": key, "value": value,
                                               "previous": previous}))

    def delete_model_tag(self, name: str, key: str) -> None:
        with self._write() as tx:
            model, _ = models.get(tx, name)
            self._require(EDIT, model)
            previous = models.tag(tx, model.id, key)
            if previous is None:
                raise tag_not_found(model.name, key)
            models.delete_tag(tx, model.id, key)
            tx.record(events.NewEvent(events.TAG_DELETED, model.name,
                                      payload={"key": key, "previous": previous}))

    def delete_model(self, name: str, *, reason: str, force: bool = False) -> None:
        """Delete a model with no live versions; the name keeps its version counter. A
        model a live consumer still serves is refused unless an owner ``force``s it."""
        reason = check_reason(reason, required=True)
        with self._write() as tx:
            model, _ = models.get(tx, name, follow_redirects=False)
            self._require(DELETE, model)
            live = [(v, s) for v, s in versions.stages_of(tx, model.id)
                    if s in (Stage.STAGING.value, Stage.PRODUCTION.value)]
            if live:
                listed = ", ".join(f"v{v} ({s})" for v, s in live)
                raise Conflict(codes.MODEL_NOT_DELETABLE,
                               f"{model.name} still has live versions: {listed}",
                               "archive them first; a model is deleted only when none of its "
                               "versions is in Staging or Production",
                               {"name": model.name, "live": [v for v, _ in live]})
            check_not_served(self, tx, model, None, action="delete", force=force, reason=reason)
            for key in [model.name_key, *models.redirect_keys(tx, model.id)]:
                models.retire(tx, key, model.last_version)
            models.delete(tx, model.id)
            tx.record(events.NewEvent(events.MODEL_DELETED, model.name, reason=reason,
                                      payload={"last_version": model.last_version}))

    def add_redirect(self, old_name: str, name: str, *, reason: str) -> ModelRecord:
        """Make ``old_name`` resolve to the model ``name``, as a rename's old name does.

        An admin's (it serves ``charter import``): the old name is taken from the whole
        registry's name space, not only from the model's."""
        reason = check_reason(reason, required=True)
        self._require_admin("add redirects")
        with self._write() as tx:
            model, _ = models.get(tx, name, follow_redirects=False)
            redirect_to(self.principal, tx, old_name, model, reason)
            return models.record(tx, model.name)


# ---- what several use cases share -------------------------------------------------

def check_new_name(service: ServiceBase, name: str) -> list[Finding]:
    """The naming policy's findings on a name a model is about to take (refused in
    ``enforce`` mode)."""
    return check_name(name, service.policies.naming)


def read_model(service: ServiceBase, name: str) -> ModelRecord:
    """The model ``name`` (a former name resolves), if the principal may read it."""
    with service._read() as reader:
        service._check_read(reader, name)
        return models.record(reader, name)


def insert_model(service: ServiceBase, tx: WriteTx, name: str, description: str,
                 findings: list[Finding], reason: str) -> ModelRow:
    """Create the model ``name`` (its counter continues a deleted name's), audited; the
    user who creates it owns it."""
    service._require_registry(CREATE_MODEL)
    refuse_taken_name(service.principal, tx, name)
    model = models.insert(tx, name, description=description,
                          last_version=models.retired_counter(tx, name), now=tx.now)
    payload: dict[str, object] = {"description": description}
    if findings:
        payload["naming_findings"] = [f.to_dict() for f in findings]
    tx.record(events.NewEvent(events.MODEL_CREATED, name, reason=reason, payload=payload))
    service._grant_creator(tx, model)
    return model


def refuse_taken_name(principal: Principal, tx: WriteTx, name: str, *,
                      renaming: ModelRow | None = None) -> None:
    """Refuse a name another model has, or that still resolves to another model.

    A taken name is refused whoever asks (names are unique), but a model the principal
    may not read is never spelled out: only the name the caller chose is echoed."""
    existing = models.find(tx, name)
    if existing is not None and (renaming is None or existing.id != renaming.id):
        shown = existing.name if principal.role_on(existing.id) else name
        raise AlreadyExists(
            codes.MODEL_EXISTS, f"A model named '{shown}' already exists",
            "names are unique regardless of case; register a new version of it instead",
            {"name": shown})
    redirect = models.redirect_of(tx, name)
    if redirect is not None and (renaming is None or redirect.model_id != renaming.id):
        if not principal.role_on(redirect.model_id):
            raise AlreadyExists(codes.NAME_REDIRECTED, f"'{name}' is a former name of another "
                                "model and still resolves to it", "pick another name",
                                {"name": name})
        target = models.by_id(tx, redirect.model_id)
        raise AlreadyExists(
            codes.NAME_REDIRECTED,
            f"'{name}' is a former name of '{target.name}' and still resolves to it",
            f"deployments may still use models:/{name}/…; pick another name or "
            f"delete '{target.name}' first", {"name": name, "redirects_to": target.name})


def refuse_retired_name(tx: WriteTx, new_name: str, model: ModelRow) -> None:
    """A deleted name's numbers were given out: another model may not take them over."""
    given_out = models.retired_counter(tx, new_name)
    if models.name_key(new_name) != model.name_key and given_out:
        raise Conflict(
            codes.NAME_RETIRED,
            f"'{new_name}' was deleted after giving out versions 1..{given_out}",
            f"renaming {model.name} onto it would make models:/{new_name}/1 name other "
            f"bytes; pick another name, or register new versions under '{new_name}' "
            f"(they continue at v{given_out + 1})", {"name": new_name})


def redirect_to(principal: Principal, tx: WriteTx, old_name: str, model: ModelRow,
                reason: str) -> None:
    """Make ``old_name`` (no model's name, no retired name) resolve to ``model``, audited."""
    check_addressable(old_name)
    refuse_taken_name(principal, tx, old_name)
    given_out = models.retired_counter(tx, old_name)
    if given_out:
        raise Conflict(
            codes.NAME_RETIRED, f"'{old_name}' was deleted after giving out versions "
            f"1..{given_out}", f"a redirect would make models:/{old_name}/1 name other "
            "bytes; leave the old name retired", {"name": old_name})
    models.add_redirect(tx, old_name, model.id)
    tx.record(events.NewEvent(events.REDIRECT_ADDED, model.name, reason=reason,
                              payload={"name": old_name}))


def name_is_taken(service: ServiceBase, name: str) -> bool:
    """Whether ``name`` is a model's name or a former name (no access check)."""
    with service.db.snapshot() as reader:
        return models.is_taken(reader, name)


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


# Past any page a registry holds, and within the databases' 64-bit OFFSET: a token beyond
# it is not one Charter gave out.
MAX_PAGE_OFFSET = 2**62


def decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, value = text.split(":", 1)
        offset = int(value)
        if kind != "o" or not 0 <= offset <= MAX_PAGE_OFFSET:
            raise ValueError(text)
        return offset
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(codes.PAGE_TOKEN_INVALID, f"'{token}' is not a page token",
                           "pass the next_page_token of the previous page unchanged") from exc
