"""name suffixes: the listing's substring filter through an index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:45:00.000000

Every suffix of every model's name key, so ``name_like`` (a case-insensitive substring)
is a range of one index instead of a walk over every model's name: at 2,000 models that
walk was 140 µs of a listing's 15 µs otherwise, and it grows with the registry
(bench/README.md, "REST v1 and UI reads at 1,000 and 100,000 versions"). The existing
models' suffixes are written here; after, the store writes them with every name on SQLite,
and on PostgreSQL a trigger does (store/triggers.py), so that replicas still on an
earlier version during a rolling upgrade keep them too.
"""

import sqlalchemy as sa
from alembic import op

from charter.store.triggers import create_name_suffix_trigger, drop_name_suffix_trigger

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_name_suffixes',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('suffix', sa.String(length=256).with_variant(
        sa.String(length=256, collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'suffix')
    )
    op.create_index('ix_model_name_suffixes_suffix', 'model_name_suffixes',
                    ['suffix', 'model_id'], unique=False)
    bind = op.get_bind()
    create_name_suffix_trigger(bind)
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text(
            "INSERT INTO model_name_suffixes (model_id, suffix) SELECT m.id, "
            "substr(m.name_key, i) FROM models m, generate_series(1, length(m.name_key)) i"))
        return
    rows = [{"model_id": model_id, "suffix": key[start:]}
            for model_id, key in bind.execute(sa.text("SELECT id, name_key FROM models"))
            for start in range(len(key))]
    if rows:
        bind.execute(sa.text("INSERT INTO model_name_suffixes (model_id, suffix) "
                             "VALUES (:model_id, :suffix)"), rows)


def downgrade() -> None:
    drop_name_suffix_trigger(op.get_bind())
    op.drop_index('ix_model_name_suffixes_suffix', table_name='model_name_suffixes')
    op.drop_table('model_name_suffixes')
