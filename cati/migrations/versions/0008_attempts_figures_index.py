"""attempts: covering index for the productivity report

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 02:00:00.000000

``cati.services.productivity`` sums up a study's day of attempts per interviewer. With
``ix_attempts_study_id_started_at_figures`` (study_id, started_at, user_id, ended_at, outcome,
aapor, id) that day is one range of the index and no attempt row is read from the table.
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_study_id_started_at_figures',
                              ['study_id', 'started_at', 'user_id', 'ended_at', 'outcome', 'aapor', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_study_id_started_at_figures')
