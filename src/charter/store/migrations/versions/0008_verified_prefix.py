"""verified prefix: the audit point the last verification proved

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:30:00.000000

One row (``id = 1``): the seq and hash up to which `charter audit verify` last proved
the chain, when, and how. An incremental verify starts there; it checks first that the
event at that seq still hashes to the remembered hash (docs/governance.md).
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_verified',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('time', sa.String(length=32), nullable=False),
    sa.Column('full_seq', sa.Integer(), nullable=False),
    sa.Column('full_time', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO audit_verified (id, seq, hash, time, full_seq, full_time) "
               "VALUES (1, 0, '" + "0" * 64 + "', '', 0, '')")


def downgrade() -> None:
    op.drop_table('audit_verified')
