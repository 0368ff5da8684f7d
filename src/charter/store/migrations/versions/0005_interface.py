"""interface: a version's inputs, outputs and params; MLflow 3's model_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:45:00.000000

``version_interfaces`` holds a version's interface (set once: a trigger refuses an
update; docs/contracts.md "The interface"); ``versions.logged_model_id`` the logged
model an MLflow 3 client registered it from.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_TRIGGERS = {
    "sqlite": ["CREATE TRIGGER version_interfaces_fixed BEFORE UPDATE ON version_interfaces "
               "BEGIN SELECT RAISE(ABORT, 'a version''s interface never changes'); END"],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION charter_version_interface_fixed() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'a version''s interface never changes'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER version_interfaces_fixed BEFORE UPDATE ON version_interfaces "
        "FOR EACH ROW EXECUTE FUNCTION charter_version_interface_fixed()"],
}
_DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS version_interfaces_fixed"],
    "postgresql": ["DROP TRIGGER IF EXISTS version_interfaces_fixed ON version_interfaces",
                   "DROP FUNCTION IF EXISTS charter_version_interface_fixed()"],
}


def upgrade() -> None:
    bind = op.get_bind()
    # Plain ADD COLUMN (no batch copy): SQLite keeps the table and its triggers.
    op.add_column('versions', sa.Column('logged_model_id', sa.String(length=64),
                                        nullable=False, server_default=''))
    op.create_table('version_interfaces',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id')
    )
    for statement in _TRIGGERS.get(bind.dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in _DROP.get(bind.dialect.name, []):
        op.execute(statement)
    op.drop_table('version_interfaces')
    op.drop_column('versions', 'logged_model_id')
