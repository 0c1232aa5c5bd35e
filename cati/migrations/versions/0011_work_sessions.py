"""work sessions: interviewers' time logged in

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 07:00:00.000000

See ``cati.models.user.WorkSession``: one row per interviewer login, ended by the logout or, when
the browser was closed, by its last sign of life. Productivity used to estimate logged-in time
from the gaps between calls; days before this revision keep that estimate.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('work_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_work_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_sessions'))
    )
    with op.batch_alter_table('work_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_work_sessions_user_id_started_at', ['user_id', 'started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_work_sessions_user_id_started_at')
    op.drop_table('work_sessions')
