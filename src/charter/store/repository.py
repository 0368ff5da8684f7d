"""ORM lookups of models and versions, for the use cases not yet moved to the named
store functions (access grants, approvals, gates, retention)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from charter.store import models, tables, versions

_MODEL_BY_KEY = select(tables.Model).where(tables.Model.name_key == bindparam("key"))
_VERSION_BY_NUMBER = select(tables.Version).where(
    tables.Version.model_id == bindparam("model_id"), tables.Version.version == bindparam("n"))


def get_model(session: Session, name: str, *, follow_redirects: bool = True
              ) -> tuple[tables.Model, str | None]:
    """The model named ``name``; the second value is the old name when a redirect was followed."""
    model = session.execute(_MODEL_BY_KEY, {"key": models.lookup_key(name)}).scalar_one_or_none()
    if model is not None:
        return model, None
    redirect = session.get(tables.Redirect, models.lookup_key(name)) if follow_redirects else None
    if redirect is not None:
        return session.get_one(tables.Model, redirect.model_id), redirect.name
    raise models.not_found(session, name)


def get_version(session: Session, model: tables.Model, version: int, *,
                via: str | None = None) -> tables.Version:
    """Version ``version`` of ``model``; ``via`` is the former name the caller used, if any."""
    if via is not None:
        version = versions.former_number(session, model, via, version)  # type: ignore[arg-type]
    row = session.execute(_VERSION_BY_NUMBER,
                          {"model_id": model.id, "n": version}).scalar_one_or_none()
    if row is None:
        raise versions.not_found(model.name, version, model.last_version)
    return row


def model_keys(session: Session, model: tables.Model) -> list[str]:
    """Every name the model's events may be filed under: its own and its redirects'."""
    return [model.name_key, *models.redirect_keys(session, model.id)]
