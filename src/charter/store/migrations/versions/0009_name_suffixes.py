"""name suffixes: the listing's substring filter through an index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:45:00.000000

Every suffix of every model's name key, so ``name_like`` (a case-insensitive substring)
is a range of one index instead of a walk over every model's name: at 2,000 models that
walk was 140 µs of a listing's 15 µs otherwise, and it grows with the registry
(bench/README.md, "REST v1 and UI reads at 1,000 and 100,000 versions"). The existing
models' suffixes are written here; the store writes them with every name after.
"""

import sqlalchemy as sa
from alembic import op

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
    rows = [{"model_id": model_id, "suffix": key[start:]}
            for model_id, key in bind.execute(sa.text("SELECT id, name_key FROM models"))
            for start in range(len(key))]
    if rows:
        bind.execute(sa.text("INSERT INTO model_name_suffixes (model_id, suffix) "
                             "VALUES (:model_id, :suffix)"), rows)


def downgrade() -> None:
    op.drop_index('ix_model_name_suffixes_suffix', table_name='model_name_suffixes')
    op.drop_table('model_name_suffixes')
