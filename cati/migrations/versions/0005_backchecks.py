"""back-checks; case tallies kept by triggers for the dashboard; completes-per-day index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 23:30:43.022309

``case_tallies`` (see ``cati.models.fieldwork``) is maintained by triggers on ``cases``:

* SQLite: row triggers; the UPDATE trigger fires only when a counted key changed (a claim or a
  heartbeat changes none), and moves one count from the old key to the new one.
* PostgreSQL: statement triggers over transition tables, so bulk statements (COPY of a sample,
  blocking a quota cell) aggregate once per statement; an UPDATE whose rows keep their keys
  writes nothing. Groups are written in key order, so two transactions lock tally rows in the
  same order.

Existing cases are counted once at the end of the upgrade.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

KEY_NAMES = ("study_id", "phase", "tier", "zone_id", "outcome", "aapor", "attempts")
KEY_COLUMNS = ", ".join(KEY_NAMES)


def _key_parts(row: str, least: str) -> list[str]:
    """The tally key of a case row (``row`` = NEW, OLD or a table alias), in KEY_NAMES order."""
    is_open = f"{row}.state IN ('ready', 'claimed') AND NOT {row}.is_test"
    return [
        f"{row}.study_id",
        f"CASE WHEN {row}.is_test THEN 'test' WHEN {row}.state = 'final' THEN 'final' "
        f"WHEN {row}.state = 'blocked' THEN 'blocked' ELSE 'open' END",
        f"CASE WHEN {is_open} THEN {row}.tier ELSE -1 END",
        f"CASE WHEN {is_open} THEN {row}.zone_id ELSE 0 END",
        f"{row}.outcome",
        f"{row}.aapor",
        f"{least}({row}.attempts, 99)",
    ]


def _key(row: str, least: str) -> str:
    return ", ".join(_key_parts(row, least))


def _named_key(row: str, least: str) -> str:
    return ", ".join(f"{part} AS {name}" for part, name in zip(_key_parts(row, least), KEY_NAMES))


def _sqlite_key_changed() -> str:
    pairs = zip(_key_parts("OLD", "min"), _key_parts("NEW", "min"))
    return " OR ".join(f"({old}) IS NOT ({new})" for old, new in pairs)


def _sqlite_where(row: str) -> str:
    return " AND ".join(f"{name} = {part}" for name, part in zip(KEY_NAMES, _key_parts(row, "min")))


SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER case_tallies_insert AFTER INSERT ON cases BEGIN
        INSERT INTO case_tallies ({KEY_COLUMNS}, n) VALUES ({_key("NEW", "min")}, 1)
        ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER case_tallies_update
        AFTER UPDATE OF study_id, state, tier, zone_id, outcome, aapor, attempts, is_test ON cases
        WHEN {_sqlite_key_changed()} BEGIN
        UPDATE case_tallies SET n = n - 1 WHERE {_sqlite_where("OLD")};
        INSERT INTO case_tallies ({KEY_COLUMNS}, n) VALUES ({_key("NEW", "min")}, 1)
        ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER case_tallies_delete AFTER DELETE ON cases BEGIN
        UPDATE case_tallies SET n = n - 1 WHERE {_sqlite_where("OLD")};
    END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION case_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO case_tallies AS t ({KEY_COLUMNS}, n)
            SELECT {KEY_COLUMNS}, sum(delta) FROM (
                SELECT {_named_key("r", "LEAST")}, 1 AS delta FROM new_rows r
            ) AS d
            GROUP BY {KEY_COLUMNS} ORDER BY {KEY_COLUMNS}
            ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = t.n + excluded.n;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO case_tallies AS t ({KEY_COLUMNS}, n)
            SELECT {KEY_COLUMNS}, sum(delta) FROM (
                SELECT {_named_key("r", "LEAST")}, -1 AS delta FROM old_rows r
            ) AS d
            GROUP BY {KEY_COLUMNS} ORDER BY {KEY_COLUMNS}
            ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = t.n + excluded.n;
        ELSE
            INSERT INTO case_tallies AS t ({KEY_COLUMNS}, n)
            SELECT {KEY_COLUMNS}, sum(delta) FROM (
                SELECT {_named_key("r", "LEAST")}, -1 AS delta FROM old_rows r
                UNION ALL
                SELECT {_key("r", "LEAST")}, 1 FROM new_rows r
            ) AS d
            GROUP BY {KEY_COLUMNS} HAVING sum(delta) <> 0 ORDER BY {KEY_COLUMNS}
            ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = t.n + excluded.n;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER case_tallies_insert AFTER INSERT ON cases REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
    """CREATE TRIGGER case_tallies_update AFTER UPDATE ON cases
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
    """CREATE TRIGGER case_tallies_delete AFTER DELETE ON cases REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
)


def upgrade() -> None:
    op.create_table('case_tallies',
    sa.Column('study_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('tier', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('zone_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('aapor', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('study_id', 'phase', 'tier', 'zone_id', 'outcome', 'aapor', 'attempts', name=op.f('pk_case_tallies'))
    )
    op.create_table('backchecks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('interview_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('interviewer_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('drawn_at', sa.DateTime(), nullable=False),
    sa.Column('drawn_by', sa.Integer(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('checked_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('invalidated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['checked_by'], ['users.id'], name=op.f('fk_backchecks_checked_by_users')),
    sa.ForeignKeyConstraint(['drawn_by'], ['users.id'], name=op.f('fk_backchecks_drawn_by_users')),
    sa.ForeignKeyConstraint(['interview_id'], ['interviews.id'], name=op.f('fk_backchecks_interview_id_interviews')),
    sa.ForeignKeyConstraint(['interviewer_id'], ['users.id'], name=op.f('fk_backchecks_interviewer_id_users')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_backchecks_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backchecks')),
    sa.UniqueConstraint('interview_id', name=op.f('uq_backchecks_interview_id'))
    )
    with op.batch_alter_table('backchecks', schema=None) as batch_op:
        batch_op.create_index('ix_backchecks_study_id_interviewer_id', ['study_id', 'interviewer_id'], unique=False)
        batch_op.create_index('ix_backchecks_study_id_status', ['study_id', 'status'], unique=False)

    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.create_index('ix_interviews_study_id_status_ended_at', ['study_id', 'status', 'ended_at'], unique=False)

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(f"INSERT INTO case_tallies ({KEY_COLUMNS}, n) SELECT {KEY_COLUMNS}, count(*) FROM "
               f"(SELECT {_named_key('c', 'LEAST' if postgres else 'min')} FROM cases c) AS k "
               f"GROUP BY {KEY_COLUMNS}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS case_tallies_{name} ON cases")
        op.execute("DROP FUNCTION IF EXISTS case_tallies_apply()")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS case_tallies_{name}")

    with op.batch_alter_table('interviews', schema=None) as batch_op:
        batch_op.drop_index('ix_interviews_study_id_status_ended_at')

    with op.batch_alter_table('backchecks', schema=None) as batch_op:
        batch_op.drop_index('ix_backchecks_study_id_status')
        batch_op.drop_index('ix_backchecks_study_id_interviewer_id')

    op.drop_table('backchecks')
    op.drop_table('case_tallies')
