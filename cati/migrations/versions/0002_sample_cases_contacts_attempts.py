"""sample cases contacts attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:13:03.020626
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('calling_zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calling_zones')),
    sa.UniqueConstraint('tz', 'country', 'region', name='uq_calling_zones_tz_country_region')
    )
    op.create_table('do_not_call',
    sa.Column('number_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_do_not_call_added_by_users')),
    sa.PrimaryKeyConstraint('number_hash', name=op.f('pk_do_not_call'))
    )
    op.create_table('sample_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_sample_imports_study_id_studies')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sample_imports_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_imports'))
    )
    with op.batch_alter_table('sample_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_imports_study_id'), ['study_id'], unique=False)

    op.create_table('study_zones',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_study_zones_study_id_studies')),
    sa.ForeignKeyConstraint(['zone_id'], ['calling_zones.id'], name=op.f('fk_study_zones_zone_id_calling_zones')),
    sa.PrimaryKeyConstraint('study_id', 'zone_id', name=op.f('pk_study_zones'))
    )
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('tier', sa.SmallInteger(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('order_key', sa.BigInteger(), nullable=False),
    sa.Column('next_call_at', sa.DateTime(), nullable=True),
    sa.Column('block_kind', sa.String(length=8), nullable=False),
    sa.Column('block_reason', sa.String(length=300), nullable=False),
    sa.Column('reserved_for', sa.Integer(), nullable=True),
    sa.Column('reserved_until', sa.DateTime(), nullable=True),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('attempts_day', sa.Date(), nullable=True),
    sa.Column('attempts_today', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('aapor', sa.String(length=8), nullable=False),
    sa.Column('person_type', sa.String(length=10), nullable=False),
    sa.Column('customer', sa.Boolean(), nullable=False),
    sa.Column('consent_at', sa.DateTime(), nullable=True),
    sa.Column('consent_source', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('is_test', sa.Boolean(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claimed_by'], ['users.id'], name=op.f('fk_cases_claimed_by_users')),
    sa.ForeignKeyConstraint(['import_id'], ['sample_imports.id'], name=op.f('fk_cases_import_id_sample_imports')),
    sa.ForeignKeyConstraint(['reserved_for'], ['users.id'], name=op.f('fk_cases_reserved_for_users')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_cases_study_id_studies')),
    sa.ForeignKeyConstraint(['zone_id'], ['calling_zones.id'], name=op.f('fk_cases_zone_id_calling_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('study_id', 'ref', name='uq_cases_study_id_ref')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_claimed', ['state', 'heartbeat_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_claimed_by'), ['claimed_by'], unique=False)
        batch_op.create_index('ix_cases_draw', ['study_id', 'state', 'tier', 'zone_id', 'order_key'], unique=False)

    op.create_table('attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('phone_position', sa.SmallInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('aapor', sa.String(length=8), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_attempts_case_id_cases')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_attempts_study_id_studies')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_attempts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_attempts_study_id_started_at', ['study_id', 'started_at'], unique=False)
        batch_op.create_index('ix_attempts_user_id_started_at', ['user_id', 'started_at'], unique=False)

    op.create_table('contacts',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('postcode', sa.String(length=16), nullable=False),
    sa.Column('pii_fields', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_contacts_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_contacts'))
    )
    op.create_table('case_phones',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('e164', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['contacts.case_id'], name=op.f('fk_case_phones_case_id_contacts')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_case_phones_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_phones'))
    )
    with op.batch_alter_table('case_phones', schema=None) as batch_op:
        batch_op.create_index('ix_case_phones_e164', ['e164'], unique=False)
        batch_op.create_index('ix_case_phones_study_id_e164', ['study_id', 'e164'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skills', sa.JSON(), nullable=False))

    


def downgrade() -> None:
    
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('skills')

    with op.batch_alter_table('case_phones', schema=None) as batch_op:
        batch_op.drop_index('ix_case_phones_study_id_e164')
        batch_op.drop_index('ix_case_phones_e164')

    op.drop_table('case_phones')
    op.drop_table('contacts')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_user_id_started_at')
        batch_op.drop_index('ix_attempts_study_id_started_at')
        batch_op.drop_index(batch_op.f('ix_attempts_case_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_draw')
        batch_op.drop_index(batch_op.f('ix_cases_claimed_by'))
        batch_op.drop_index('ix_cases_claimed')

    op.drop_table('cases')
    op.drop_table('study_zones')
    with op.batch_alter_table('sample_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sample_imports_study_id'))

    op.drop_table('sample_imports')
    op.drop_table('do_not_call')
    op.drop_table('calling_zones')
    
