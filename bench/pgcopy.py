"""Copy a populated SQLite registry's rows into PostgreSQL tables of the same schema.

bench/scale.py measures at 100,000 versions on PostgreSQL this way: populating through
the API again would take most of an hour on this machine, and both schemas come from one
source (Charter's Alembic migrations; MLflow's SqlAlchemyStore), so the rows are the
same rows. The target's tables are emptied first (its migrations seed some), every row
is sent with COPY, foreign keys and triggers are off for the session while it runs
(``session_replication_role = replica``: the target is a fresh database only this
copies into), each table's id sequence is moved past the largest id copied, and every
table copied is vacuumed and analysed.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

SKIP = {"alembic_version", "sqlite_sequence"}


def copy_sqlite_to_postgres(source: Path, target: str) -> dict[str, Any]:
    """Every table of ``source`` that ``target`` (a libpq URL) also has; the row counts."""
    import psycopg

    begun = time.monotonic()
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    counts: dict[str, int] = {}
    with psycopg.connect(target) as pg:
        pg.execute("SET session_replication_role = replica")
        tables = {row[0] for row in pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        wanted = [t for (t,) in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'") if t in tables - SKIP]
        if wanted:
            pg.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in wanted) + " CASCADE")
        for table in wanted:
            kinds = dict(pg.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'NEVER'",
                (table,)).fetchall())  # a generated column is computed, never copied
            cursor = lite.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description if d[0] in kinds]
            listed = ", ".join(f'"{c}"' for c in columns)
            cursor = lite.execute(f'SELECT {listed} FROM "{table}"')
            booleans = [i for i, c in enumerate(columns) if kinds[c] == "boolean"]
            count = 0
            with pg.cursor().copy(f'COPY "{table}" ({listed}) FROM STDIN') as copy:
                for row in cursor:
                    if booleans:
                        row = tuple(bool(v) if i in booleans and v is not None else v
                                    for i, v in enumerate(row))
                    copy.write_row(row)
                    count += 1
            counts[table] = count
            for (column,) in pg.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND table_name = %s AND (column_default LIKE 'nextval%%' "
                    "OR is_identity = 'YES')", (table,)).fetchall():
                pg.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', %s), "
                           f"GREATEST(COALESCE(MAX(\"{column}\"), 0), 1)) FROM \"{table}\"",
                           (column,))
        if "model_name_suffixes" in tables and "model_name_suffixes" not in wanted:
            # A population older than migration 0009 has no name suffixes: write them, as
            # the migration does, or the listing's name filter finds no model.
            counts["model_name_suffixes"] = pg.execute(
                "INSERT INTO model_name_suffixes (model_id, suffix) SELECT m.id, "
                "substr(m.name_key, g) FROM models m, generate_series(1, length(m.name_key)) g"
            ).rowcount
            wanted.append("model_name_suffixes")
        pg.execute("SET session_replication_role = DEFAULT")
        pg.commit()
        # What autovacuum does some time after a bulk load, done now: the planner's
        # statistics (without them PostgreSQL plans every query on guessed row counts) and a
        # vacuum (the visibility map an index-only scan needs, hint bits set) — as
        # bench/pg_ab.py's copies are. Where autovacuum is on it would otherwise wake within
        # its minute's nap and vacuum both servers' 100,000-row tables while the first cases
        # are measured; where it is off (this project's CI machine) the tables would never
        # be vacuumed, as no production database is left.
        pg.autocommit = True
        for table in wanted:
            pg.execute(f'VACUUM (ANALYZE) "{table}"')
    lite.close()
    return {"seconds": round(time.monotonic() - begun, 1), "rows": counts,
            "path": "rows copied from the SQLite population (bench/pgcopy.py)"}
