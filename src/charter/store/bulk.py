"""The whole registry, row for row: read for an export, written for an import.
SQLAlchemy Core and ORM, in the transactions the service opens (``service.archive``).

``dump`` reads every table of the registry's contract (models, versions and their
files, tags, aliases, tombstones, redirects, signatures, allowed signers, attestations,
the events and the chain head) in the
caller's read transaction, so an export is one consistent snapshot. Rows come out as plain
dicts keyed by names, never by the database's ids, in an order that depends on
the data alone (sorted in Python, not by a database collation), so the same
registry dumps identically from SQLite and from PostgreSQL.

``load`` writes such rows into an *empty* registry in the caller's write transaction,
events verbatim (their times and hashes as stored), and points the chain head at
the last one. Access-control tables (users, tokens, grants) are not part of it:
credentials do not travel with an export.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from charter.domain import error_codes as codes
from charter.domain.archive import format_moment, invalid, parse_moment
from charter.domain.errors import Conflict
from charter.store import name_suffixes, tables
from charter.store.database import WriteTx

M, V = tables.Model.__table__, tables.Version.__table__
MT, VT = tables.ModelTag.__table__, tables.VersionTag.__table__
VF, A = tables.VersionFile.__table__, tables.Alias.__table__
RN, R, E = tables.RetiredName.__table__, tables.Redirect.__table__, tables.Event.__table__
AS, AT = tables.AllowedSigner.__table__, tables.Attestation.__table__
VI = tables.VersionInterface.__table__
# SQLAlchemy types a mapped class's __table__ as any FromClause; a declarative class maps
# one Table, which an UPDATE needs.
_VERSIONS = cast(Table, V)
EVENT_FIELDS = ("seq", "time", "actor", "action", "model", "model_key", "version",
                "from_stage", "to_stage", "reason", "correlation_id", "payload",
                "prev_hash", "hash")
EVENT_BATCH = 1000


@dataclass
class Rows:
    """The registry's state tables as plain rows, and the chain head (events apart)."""

    models: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    aliases: list[dict[str, Any]]
    retired_names: list[dict[str, Any]]
    redirects: list[dict[str, Any]]
    head: dict[str, Any]
    signatures: list[dict[str, Any]] = field(default_factory=list)
    signers: list[dict[str, Any]] = field(default_factory=list)
    attestations: list[dict[str, Any]] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    model_ids: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Dump(Rows):
    session: Session = field(kw_only=True)

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event in sequence order, as stored, streamed from the same snapshot."""
        rows = self.session.execute(select(E).order_by(E.c.seq),
                                    execution_options={"yield_per": EVENT_BATCH})
        for row in rows:
            yield {name: getattr(row, name) for name in EVENT_FIELDS}


def dump(session: Session) -> Dump:
    """The registry as ``session``'s read transaction sees it; its events stream from
    the same transaction, so keep it open until they are read."""
    names = {row.id: row.name for row in session.execute(select(M.c.id, M.c.name))}
    versions = {row.id: (names[row.model_id], row.version)
                for row in session.execute(select(V.c.id, V.c.model_id, V.c.version))}
    head = session.get_one(tables.ChainHead, 1)
    return Dump(
        models=_models(session), versions=_versions(session, names),
        tags=_tags(session, names, versions), aliases=_aliases(session, names, versions),
        retired_names=_sorted([{"name_key": r.name_key, "last_version": r.last_version}
                               for r in session.execute(select(RN))], "name_key"),
        redirects=_sorted([{"name": r.name, "name_key": r.name_key,
                            "model": names[r.model_id]}
                           for r in session.execute(select(R))], "name_key"),
        head={"seq": head.seq, "hash": head.hash, "time": head.time},
        signatures=_signatures(session, names), signers=_signers(session, names),
        attestations=_attestations(session, versions),
        interfaces=_interfaces(session, versions), model_ids=_model_ids(session, names),
        session=session)


def _key(name: str) -> str:
    return name.strip().lower()


def _sorted(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(row[k] for k in keys))


def _models(session: Session) -> list[dict[str, Any]]:
    rows = [{"name": r.name, "description": r.description, "last_version": r.last_version,
             "created_at": format_moment(r.created_at),
             "updated_at": format_moment(r.updated_at)} for r in session.execute(select(M))]
    return sorted(rows, key=lambda row: _key(row["name"]))


def _versions(session: Session, names: dict[int, str]) -> list[dict[str, Any]]:
    files: dict[int, list[dict[str, Any]]] = {}
    for f in session.execute(select(VF)):
        files.setdefault(f.version_id, []).append({"path": f.path, "size": f.size,
                                                   "sha256": f.sha256})
    rows = [{"model": names[r.model_id], "version": r.version, "stage": r.stage,
             "source": r.source, "run_id": r.run_id, "description": r.description,
             "digest": r.digest, "status": r.status,
             "created_at": format_moment(r.created_at), "updated_at": format_moment(r.updated_at),
             "stage_changed_at": format_moment(r.stage_changed_at),
             "files": sorted(files.get(r.id, []), key=lambda f: f["path"])}
            for r in session.execute(select(V))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["version"]))


def _tags(session: Session, names: dict[int, str], versions: dict[int, tuple[str, int]]
          ) -> list[dict[str, Any]]:
    rows = [{"model": names[t.model_id], "version": None, "key": t.key, "value": t.value}
            for t in session.execute(select(MT))]
    rows += [{"model": versions[t.version_id][0], "version": versions[t.version_id][1],
              "key": t.key, "value": t.value} for t in session.execute(select(VT))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["version"] or 0, row["key"]))


def _aliases(session: Session, names: dict[int, str], versions: dict[int, tuple[str, int]]
             ) -> list[dict[str, Any]]:
    rows = [{"model": names[a.model_id], "alias": a.alias, "version": versions[a.version_id][1]}
            for a in session.execute(select(A))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["alias"]))


def _signatures(session: Session, names: dict[int, str]) -> list[dict[str, Any]]:
    rows = [{"model": names[r.model_id], "version": r.version, "signer": r.signer,
             "signature": r.signature}
            for r in session.execute(select(V).where(V.c.signer.is_not(None)))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["version"]))


def _signers(session: Session, names: dict[int, str]) -> list[dict[str, Any]]:
    rows = [{"model": names[r.model_id], "signer": r.signer, "public_key": r.public_key,
             "added_by": r.added_by, "added_at": format_moment(r.added_at)}
            for r in session.execute(select(AS))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["signer"]))


def _attestations(session: Session, versions: dict[int, tuple[str, int]]
                  ) -> list[dict[str, Any]]:
    rows = [{"model": versions[r.version_id][0], "version": versions[r.version_id][1],
             "sha256": r.sha256, "size": r.size, "predicate_type": r.predicate_type,
             "predicate": r.predicate, "signer": r.signer, "created_by": r.created_by,
             "created_at": format_moment(r.created_at), "_order": r.id}
            for r in session.execute(select(AT))]
    rows.sort(key=lambda row: (_key(row["model"]), row["version"], row.pop("_order")))
    return rows


def _interfaces(session: Session, versions: dict[int, tuple[str, int]]
                ) -> list[dict[str, Any]]:
    rows = [{"model": versions[r.version_id][0], "version": versions[r.version_id][1],
             "spec": r.spec, "origin": r.origin, "created_at": format_moment(r.created_at)}
            for r in session.execute(select(VI))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["version"]))


def _model_ids(session: Session, names: dict[int, str]) -> list[dict[str, Any]]:
    rows = [{"model": names[r.model_id], "version": r.version, "model_id": r.logged_model_id}
            for r in session.execute(select(V).where(V.c.logged_model_id != ""))]
    return sorted(rows, key=lambda row: (_key(row["model"]), row["version"]))


# --- load ------------------------------------------------------------------------------


def is_empty(conn: Session | WriteTx) -> bool:
    """No models, versions, tombstones, redirects or events: what an import goes into."""
    session = conn if isinstance(conn, Session) else conn.session
    counted = (M, V, RN, R, E)
    if any(session.execute(select(func.count()).select_from(t)).scalar_one() for t in counted):
        return False
    return session.get_one(tables.ChainHead, 1).seq == 0


def refuse_non_empty() -> Conflict:
    return Conflict(codes.IMPORT_NOT_EMPTY, "the registry already holds models or events; an "
                    "export is imported only into an empty registry",
                    "create a new database (e.g. --registry sqlite:///new.db or a new "
                    "PostgreSQL database) and import into that")


def load(tx: WriteTx, data: Rows, events: Iterable[dict[str, Any]]) -> None:
    """Write ``data`` and ``events`` into an empty registry, in ``tx`` (all or nothing:
    a refusal rolls the transaction back)."""
    session = tx.session
    if not is_empty(session):
        raise refuse_non_empty()
    try:
        _load_rows(session, data, events)
        session.flush()
    except IntegrityError as exc:
        raise invalid("the export breaks a rule of the schema: "
                      f"{str(exc.orig).splitlines()[0]}") from exc
    except KeyError as exc:
        raise invalid(f"the export refers to {exc.args[0]!r}, which it does not hold"
                      ) from exc
    head = session.get_one(tables.ChainHead, 1)
    head.seq, head.hash, head.time = (data.head["seq"], data.head["hash"],
                                      data.head["time"])


def _load_rows(session: Session, data: Rows, events: Iterable[dict[str, Any]]) -> None:
    model_ids: dict[str, int] = {}
    for row in data.models:
        model = tables.Model(name=row["name"], name_key=_key(row["name"]),
                             description=row["description"], last_version=row["last_version"],
                             created_at=parse_moment(row["created_at"]),
                             updated_at=parse_moment(row["updated_at"]))
        session.add(model)
        session.flush()
        model_ids[_key(row["name"])] = model.id
        name_suffixes.write(session, model.id, model.name_key)
    version_ids = _load_versions(session, data.versions, model_ids)
    _insert(session, MT, [{"model_id": model_ids[_key(t["model"])], "key": t["key"],
                           "value": t["value"]} for t in data.tags if t["version"] is None])
    _insert(session, VT, [{"version_id": version_ids[(_key(t["model"]), t["version"])],
                           "key": t["key"], "value": t["value"]}
                          for t in data.tags if t["version"] is not None])
    _insert(session, A, [{"model_id": model_ids[_key(a["model"])], "alias": a["alias"],
                          "version_id": version_ids[(_key(a["model"]), a["version"])]}
                         for a in data.aliases])
    _insert(session, RN, [dict(r) for r in data.retired_names])
    _insert(session, R, [{"name_key": r["name_key"], "name": r["name"],
                          "model_id": model_ids[_key(r["model"])]} for r in data.redirects])
    _load_provenance(session, data, model_ids, version_ids)
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append({name: event[name] for name in EVENT_FIELDS})
        if len(batch) == EVENT_BATCH:
            _insert(session, E, batch)
            batch = []
    _insert(session, E, batch)


def _load_provenance(session: Session, data: Rows, model_ids: dict[str, int],
                     version_ids: dict[tuple[str, int], int]) -> None:
    for row in data.signatures:
        session.execute(update(_VERSIONS).where(V.c.id == version_ids[(_key(row["model"]),
                                                                row["version"])])
                        .values(signer=row["signer"], signature=row["signature"]))
    _insert(session, AS, [{"model_id": model_ids[_key(r["model"])], "signer": r["signer"],
                           "public_key": r["public_key"], "added_by": r["added_by"],
                           "added_at": parse_moment(r["added_at"])} for r in data.signers])
    _insert(session, AT, [{"version_id": version_ids[(_key(r["model"]), r["version"])],
                           "sha256": r["sha256"], "size": r["size"],
                           "predicate_type": r["predicate_type"], "predicate": r["predicate"],
                           "signer": r["signer"], "created_by": r["created_by"],
                           "created_at": parse_moment(r["created_at"])}
                          for r in data.attestations])
    _load_interfaces(session, data, version_ids)


def _load_interfaces(session: Session, data: Rows, version_ids: dict[tuple[str, int], int]
                     ) -> None:
    """Versions' interfaces and MLflow 3 model ids (export format 3 on)."""
    _insert(session, VI, [{"version_id": version_ids[(_key(r["model"]), r["version"])],
                           "spec": r["spec"], "origin": r["origin"],
                           "created_at": parse_moment(r["created_at"])}
                          for r in data.interfaces])
    for row in data.model_ids:
        session.execute(update(_VERSIONS).where(V.c.id == version_ids[(_key(row["model"]),
                                                                row["version"])])
                        .values(logged_model_id=row["model_id"]))


def _load_versions(session: Session, rows: list[dict[str, Any]], model_ids: dict[str, int]
                   ) -> dict[tuple[str, int], int]:
    ids: dict[tuple[str, int], int] = {}
    for row in rows:
        version = tables.Version(
            model_id=model_ids[_key(row["model"])], version=row["version"], stage=row["stage"],
            source=row["source"], run_id=row["run_id"], description=row["description"],
            digest=row["digest"], status=row["status"],
            created_at=parse_moment(row["created_at"]),
            updated_at=parse_moment(row["updated_at"]),
            stage_changed_at=parse_moment(row["stage_changed_at"]))
        session.add(version)
        session.flush()  # one at a time: the one-Production index checks each row
        ids[(_key(row["model"]), row["version"])] = version.id
    _insert(session, VF, [{"version_id": ids[(_key(r["model"]), r["version"])], "path": f["path"],
                           "size": f["size"], "sha256": f["sha256"]}
                          for r in rows for f in r["files"]])
    return ids


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table), rows)
