"""interviews

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:21:36.907924
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('interviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('resp_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('disposition', sa.String(length=64), nullable=True),
    sa.Column('disposition_code', sa.Integer(), nullable=True),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('interviewer_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('is_test', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_interviews_case_id_cases')),
    sa.ForeignKeyConstraint(['interviewer_id'], ['users.id'], name=op.f('fk_interviews_interviewer_id_users')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_interviews_study_id_studies')),
    sa.ForeignKeyConstraint(['version_id'], ['questionnaire_versions.id'], name=op.f('fk_interviews_version_id_questionnaire_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interviews')),
    sa.UniqueConstraint('case_id', name=op.f('uq_interviews_case_id')),
    sa.UniqueConstraint('resp_id', name=op.f('uq_interviews_resp_id'))
    )
    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.create_index('ix_interviews_interviewer_id_started_at', ['interviewer_id', 'started_at'], unique=False)
        batch_op.create_index('ix_interviews_study_id_status', ['study_id', 'status'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.drop_index('ix_interviews_study_id_status')
        batch_op.drop_index('ix_interviews_interviewer_id_started_at')

    op.drop_table('interviews')
    
