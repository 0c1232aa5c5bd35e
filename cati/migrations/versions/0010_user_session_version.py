"""user session version: revoking a user's sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 03:30:00.000000

See ``cati.models.user.User.session_version``: the session cookie carries the version it was
issued for; deactivating a user or changing their password bumps it, so every other session of
that user is logged out at its next request. Existing users start at 0, as do sessions from
before this revision (they carry no version), so nobody is logged out by the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
