"""provenance: signed versions, allowed signers, attestations, checkpoints

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:30:00.000000

A version's signer and signature bundle (set once), a model's allowed signers, the
attestations of versions (immutable), the newest checkpoint on the chain head, and
an index to find checkpoint events (docs/provenance.md). A held version's status
(PENDING_REGISTRATION) is longer than the old column allowed.
"""

import sqlalchemy as sa
from alembic import op

from charter.store.triggers import create_provenance_triggers, drop_provenance_triggers

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # SQLite does not enforce VARCHAR lengths; only PostgreSQL needs the wider column.
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE versions ALTER COLUMN status TYPE VARCHAR(24)")
    # Plain ADD COLUMN (no batch copy): SQLite keeps the table and its triggers.
    op.add_column('versions', sa.Column('signer', sa.String(length=1100), nullable=True))
    op.add_column('versions', sa.Column('signature', sa.String(length=64), nullable=True))
    op.create_index('ix_versions_signature', 'versions', ['signature'], unique=False)
    op.add_column('chain_head', sa.Column('checkpoint_seq', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('chain_head', sa.Column('checkpoint_time', sa.String(length=32), nullable=False, server_default=''))
    op.create_table('allowed_signers',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('signer', sa.String(length=1100), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('added_by', sa.String(length=256), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'signer')
    )
    op.create_table('attestations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('predicate_type', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('predicate', sa.Text(), nullable=False),
    sa.Column('signer', sa.String(length=1100), nullable=True),
    sa.Column('created_by', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version_id', 'sha256', name='uq_attestation_document')
    )
    op.create_index('ix_attestations_version', 'attestations', ['version_id', 'id'], unique=False)
    op.create_index(op.f('ix_attestations_sha256'), 'attestations', ['sha256'], unique=False)
    op.create_index('ix_events_action_seq', 'events', ['action', 'seq'], unique=False)
    create_provenance_triggers(bind)


def downgrade() -> None:
    bind = op.get_bind()
    drop_provenance_triggers(bind)
    op.drop_index('ix_events_action_seq', table_name='events')
    op.drop_index(op.f('ix_attestations_sha256'), table_name='attestations')
    op.drop_index('ix_attestations_version', table_name='attestations')
    op.drop_table('attestations')
    op.drop_table('allowed_signers')
    op.drop_column('chain_head', 'checkpoint_time')
    op.drop_column('chain_head', 'checkpoint_seq')
    op.drop_index('ix_versions_signature', table_name='versions')
    op.drop_column('versions', 'signature')
    op.drop_column('versions', 'signer')
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE versions ALTER COLUMN status TYPE VARCHAR(16)")
