"""kept model briefs: a search of models reads each one's brief instead of making it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:00:00.000000

On PostgreSQL, ``models.brief`` keeps what a search shows of a model beyond its own columns
(tags, aliases, newest version per stage) as one JSON value; triggers forget it when any of
those rows changes, and the server makes it again in the background (store/model_briefs.py).
NULL, as every model starts here, reads as made on the spot: correct, only slower, until the
server's refresher has made them (seconds for 10,000 models). SQLite keeps none.
"""

from alembic import op

from charter.store.triggers import create_brief_triggers, drop_brief_triggers

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE models ADD COLUMN brief json")
        create_brief_triggers(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        drop_brief_triggers(bind)
        op.execute("ALTER TABLE models DROP COLUMN brief")
