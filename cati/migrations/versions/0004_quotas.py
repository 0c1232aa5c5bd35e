"""quotas: counters per cell and reservations per interview

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:29:02.931596
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quota_cells',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('quota', sa.String(length=64), nullable=False),
    sa.Column('cell', sa.String(length=64), nullable=False),
    sa.Column('quota_position', sa.SmallInteger(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('target', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('overshoot', sa.Float(), nullable=False),
    sa.Column('sample_only', sa.Boolean(), nullable=False),
    sa.Column('completes', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_quota_cells_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_cells')),
    sa.UniqueConstraint('study_id', 'quota', 'cell', name='uq_quota_cells_study_id_quota_cell')
    )
    op.create_table('quota_reservations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('interview_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quota', sa.String(length=64), nullable=False),
    sa.Column('cell_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cell_id'], ['quota_cells.id'], name=op.f('fk_quota_reservations_cell_id_quota_cells')),
    sa.ForeignKeyConstraint(['interview_id'], ['interviews.id'], name=op.f('fk_quota_reservations_interview_id_interviews')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_quota_reservations_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_reservations')),
    sa.UniqueConstraint('interview_id', 'quota', name='uq_quota_reservations_interview_id_quota')
    )
    with op.batch_alter_table('quota_reservations', schema=None) as batch_op:
        batch_op.create_index('ix_quota_reservations_cell_id_status', ['cell_id', 'status'], unique=False)
        batch_op.create_index('ix_quota_reservations_study_id_status', ['study_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quota_reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_quota_reservations_study_id_status')
        batch_op.drop_index('ix_quota_reservations_cell_id_status')

    op.drop_table('quota_reservations')
    op.drop_table('quota_cells')
