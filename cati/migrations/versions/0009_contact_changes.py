"""contact changes: the personal values of audited changes, erasable with the contact

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 03:00:00.000000

See ``cati.models.sample.ContactChange``: the append-only audit trail names the change (who,
when, which field, this row's id); the old and new names, numbers and supervisors' notes live
here, and erasing a case's contact data deletes its rows (``ix_contact_changes_case_id``).
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old_value', sa.String(length=2000), nullable=True),
    sa.Column('new_value', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_contact_changes_case_id_cases')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_contact_changes_study_id_studies')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_contact_changes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_changes'))
    )
    with op.batch_alter_table('contact_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_changes_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_changes_case_id'))

    op.drop_table('contact_changes')
