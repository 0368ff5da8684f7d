"""The schema revision the store expects is Alembic's head, and migrating is idempotent."""

from __future__ import annotations

from importlib import resources

from alembic.config import Config
from alembic.script import ScriptDirectory

from charter.store.database import SCHEMA_REVISION, Database
from charter.store.engines import current_revision, upgrade


def test_schema_revision_constant_is_alembics_head():
    config = Config()
    config.set_main_option("script_location",
                           str(resources.files("charter.store") / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_a_new_database_is_migrated_to_head_and_upgrading_again_changes_nothing(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/charter.db")
    assert current_revision(database.engine) == SCHEMA_REVISION
    upgrade(database.engine)
    assert current_revision(database.engine) == SCHEMA_REVISION
    database.dispose()
