"""export jobs: data exports built in the background, with progress and a cache fingerprint

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:07:05.823810

See ``cati.models.export_job``: workers claim queued jobs by status (``ix_export_jobs_status_id``);
a request finds a finished job for the same data by ``(study_id, fingerprint)``.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('export_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('contacts', sa.Boolean(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('download', sa.String(length=200), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=2000), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_export_jobs_requested_by_users')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_export_jobs_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_jobs'))
    )
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_export_jobs_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_export_jobs_study_id_fingerprint', ['study_id', 'fingerprint'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_export_jobs_study_id_fingerprint')
        batch_op.drop_index('ix_export_jobs_status_id')

    op.drop_table('export_jobs')
