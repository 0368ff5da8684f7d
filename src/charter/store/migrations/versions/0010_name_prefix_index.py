"""name prefix index: a model search by name prefix reads the names under it on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:00:00.000000

``name LIKE 'fraud%'`` is a range of ``name_key`` (the lowercased name) that holds every
match. SQLite compares text bytewise, so its ``name_key`` index serves the range; a
PostgreSQL database's collation need not order text by code point, so the range is
compared in the "C" collation there, and this index is in that collation. Without it
PostgreSQL tested the pattern on every model of the registry (bench/README.md, "Model
searches on PostgreSQL").
"""

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_models_name_key_c ON models (name_key COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_models_name_key_c")
