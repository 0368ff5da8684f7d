"""consumers: what each named deployment serves, per models:/ URI

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:40:00.000000

One row per model, consumer and URI: the version last reported, since when, and when
it was last seen (docs/contracts.md "Consumers"). Bookkeeping, not history: rows are
updated in place and are not part of the audit chain (its ``consumers_converged``
events are).
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consumers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('consumer', sa.String(length=128), nullable=False),
    sa.Column('uri', sa.String(length=600), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.CheckConstraint('version > 0', name='ck_consumer_version_positive'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_id', 'consumer', 'uri', name='uq_consumer_uri')
    )
    op.create_index('ix_consumers_model_seen', 'consumers', ['model_id', 'last_seen'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_consumers_model_seen', table_name='consumers')
    op.drop_table('consumers')
