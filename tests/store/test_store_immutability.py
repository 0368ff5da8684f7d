"""What a version number means is kept by the database: models:/x/42 is the same bytes forever.

Even a writer with SQL access to the tables cannot change a version's source, run id or
digest, or its files, in place (DESIGN §2.2); only deleting the version is possible, and
its number is never given out again.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from charter.store import tables

NAME = "fraud_detector"


@pytest.mark.parametrize("column, value", [
    ("source", "s3://elsewhere/other.pkl"),
    ("run_id", "someoneelse"),
    ("digest", "0" * 64),
])
def test_a_versions_source_and_digest_cannot_be_rewritten_in_the_database(
        registry, tmp_path, column, value):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"weights")
    registry.register(NAME, path=tmp_path / "model", run_id="abc123")
    with pytest.raises(DBAPIError), registry.db.engine.begin() as connection:
        connection.execute(update(tables.Version).values({column: value}))
    assert getattr(registry.get_version(NAME, 1), column) != value


def test_a_versions_files_cannot_be_rewritten_in_the_database(registry, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"weights")
    before = registry.register(NAME, path=tmp_path / "model").files
    with pytest.raises(DBAPIError), registry.db.engine.begin() as connection:
        connection.execute(update(tables.VersionFile).values(sha256="0" * 64))
    assert registry.get_version(NAME, 1).files == before


def test_stage_and_description_still_change_through_the_registry(registry):
    registry.register(NAME, "runs:/abc123/model", run_id="abc123")
    registry.transition(NAME, 1, "Staging", reason="validated")
    registry.update_version(NAME, 1, description="calibrated")
    version = registry.get_version(NAME, 1)
    assert (version.stage, version.description) == ("Staging", "calibrated")
