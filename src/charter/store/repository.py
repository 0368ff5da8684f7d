"""Lookups the service makes inside its transactions. Queries only; no rules."""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from charter.domain.errors import NotFound
from charter.domain.events import VERSION_IMPORTED
from charter.store import events, tables
from charter.store.driver import reader_for


def name_key(name: str) -> str:
    return name.strip().lower()


def lookup_key(name: str) -> str:
    """The key to look a name up by; a name no model could have is simply not found."""
    if not isinstance(name, str) or len(name) > 256 or "\x00" in name:
        raise NotFound("model.not_found", f"No model named {str(name)[:80]!r} is registered",
                       "names are at most 256 printable characters")
    return name_key(name)


# Statements built once: a write pays for running its lookups, not for constructing them.
_MODEL_BY_KEY = select(tables.Model).where(tables.Model.name_key == bindparam("key"))
_VERSION_BY_NUMBER = select(tables.Version).where(
    tables.Version.model_id == bindparam("model_id"), tables.Version.version == bindparam("n"))
_VERSIONS_IN_STAGE = (select(tables.Version).where(
    tables.Version.model_id == bindparam("model_id"), tables.Version.stage == bindparam("stage"))
    .order_by(tables.Version.version))


def find_model(session: Session, name: str) -> tables.Model | None:
    return session.execute(_MODEL_BY_KEY, {"key": lookup_key(name)}).scalar_one_or_none()


def find_redirect(session: Session, name: str) -> tables.Redirect | None:
    return session.get(tables.Redirect, lookup_key(name))


def get_model(session: Session, name: str, *, follow_redirects: bool = True
              ) -> tuple[tables.Model, str | None]:
    """The model named ``name``; the second value is the old name when a redirect was followed."""
    model = find_model(session, name)
    if model is not None:
        return model, None
    redirect = find_redirect(session, name) if follow_redirects else None
    if redirect is not None:
        return session.get_one(tables.Model, redirect.model_id), redirect.name
    raise model_not_found(session, name)


def model_not_found(conn: Any, name: str) -> NotFound:
    names = [row[0] for row in reader_for(conn).all("SELECT name FROM models")]
    close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=3)
    hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close
            else "list the registered models with `charter ls`")
    return NotFound("model.not_found", f"No model named '{name}' is registered", hint,
                    {"name": name})


def get_version(session: Session, model: tables.Model, version: int, *,
                via: str | None = None) -> tables.Version:
    """Version ``version`` of ``model``; ``via`` is the former name the caller used, if any."""
    if via is not None:
        version = former_number(session, model, via, version)
    row = session.execute(_VERSION_BY_NUMBER,
                          {"model_id": model.id, "n": version}).scalar_one_or_none()
    if row is None:
        raise version_not_found(model.name, version, model.last_version)
    return row


def former_number(session: Any, model: Any, old_name: str, number: int) -> int:
    """What version ``number`` of the former name ``old_name`` is called under ``model``.

    A rename keeps the numbers. An import that folded several old names into one
    model numbered their versions anew, and each version's event records its origin.
    """
    reader = reader_for(session)
    keys = [model.name_key, *redirect_names_keys(reader, model.id)]
    old_key, folded = lookup_key(old_name), False
    for version, payload, filed_under in events.with_action(reader, keys, VERSION_IMPORTED):
        origin = payload.get("origin") or {}
        # Imported under its own name, the name kept its new numbers: nothing to map.
        if str(origin.get("name", "")).lower() == old_key != filed_under:
            folded = True
            if origin.get("version") == number:
                return int(version)
    if folded:
        raise NotFound("version.not_found", f"{old_name} had no version {number} when it was "
                       f"imported into {model.name}", f"its versions were numbered anew; "
                       f"see `charter history {model.name}`",
                       {"name": old_name, "version": number})
    return number


def version_not_found(model_name: str, number: int, last_version: int) -> NotFound:
    hint = (f"versions are numbered 1..{last_version}; some may have been deleted"
            if last_version else f"{model_name} has no versions yet")
    return NotFound("version.not_found", f"{model_name} has no version {number}", hint,
                    {"name": model_name, "version": number})


def versions_in_stage(session: Session, model_id: int, stage: str) -> list[tables.Version]:
    return list(session.execute(_VERSIONS_IN_STAGE,
                                {"model_id": model_id, "stage": stage}).scalars())


def production_version(session: Session, model_id: int) -> tables.Version | None:
    found = versions_in_stage(session, model_id, "Production")
    return found[0] if found else None


def redirect_names(session: Session, model_ids: list[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {mid: [] for mid in model_ids}
    if not model_ids:
        return result
    rows = session.execute(select(tables.Redirect.model_id, tables.Redirect.name)
                           .where(tables.Redirect.model_id.in_(model_ids)))
    for model_id, old in rows:
        result[model_id].append(old)
    return result


def retired_counter(session: Session, key: str) -> int:
    retired = session.get(tables.RetiredName, key)
    return retired.last_version if retired else 0


def retire_name(session: Session, key: str, last_version: int) -> None:
    retired = session.get(tables.RetiredName, key)
    if retired is None:
        session.add(tables.RetiredName(name_key=key, last_version=last_version))
    else:
        retired.last_version = max(retired.last_version, last_version)


def model_keys(session: Session, model: tables.Model) -> list[str]:
    """Every name the model's events may be filed under: its own and its redirects'."""
    return [model.name_key, *redirect_names_keys(session, model.id)]


def redirect_names_keys(conn: Any, model_id: int) -> list[str]:
    return [row[0] for row in reader_for(conn).all(
        "SELECT name_key FROM redirects WHERE model_id = ?", (model_id,))]


def count_models(session: Session) -> int:
    return session.execute(select(func.count()).select_from(tables.Model)).scalar_one()
