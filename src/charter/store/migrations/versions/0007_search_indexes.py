"""search indexes: tag lookups, sources, the stage map and the newest updates

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:30:00.000000

Every filtered search finds its rows through an index instead of visiting every
version (issue 15; tests/store/test_store_query_plans.py reads the plans):

* a tag condition (``tags.team = 'fraud'``) looks its owners up by (key, value);
* ``source_path = '…'`` by the source;
* the newest version per stage of a page of models (MLflow's ``latest_versions``),
  and the UI's stage filter, read (model_id, stage, version) alone;
* an unfiltered version search, newest update first, walks ``updated_at``;
* the aliases of a page of versions are found by version.

A tag value and a source may be longer than a PostgreSQL B-tree entry can hold
(~2.7 kB), so there the value is indexed by its md5 (the query compares both) and the
source by a hash index; SQLite keeps the text itself.
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TAG_TABLES = ("version_tags", "model_tags")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TAG_TABLES:
        value = "md5(value)" if postgres else "value"
        op.execute(f"CREATE INDEX ix_{table}_key_value ON {table} (key, {value})")
    if postgres:
        op.execute("CREATE INDEX ix_versions_source ON versions USING hash (source)")
    else:
        op.execute("CREATE INDEX ix_versions_source ON versions (source)")
    op.drop_index('ix_versions_stage', table_name='versions')
    op.create_index('ix_versions_stage_version', 'versions',
                    ['model_id', 'stage', 'version'], unique=False)
    op.create_index('ix_versions_updated', 'versions', ['updated_at'], unique=False)
    op.create_index('ix_aliases_version_id', 'aliases', ['version_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_aliases_version_id', table_name='aliases')
    op.drop_index('ix_versions_updated', table_name='versions')
    op.drop_index('ix_versions_stage_version', table_name='versions')
    op.create_index('ix_versions_stage', 'versions', ['model_id', 'stage'], unique=False)
    op.drop_index('ix_versions_source', table_name='versions')
    for table in _TAG_TABLES:
        op.drop_index(f'ix_{table}_key_value', table_name=table)
