"""case tallies also count blocked cases per reason (block_kind)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:55:00.000000

The dashboard shows why cases are blocked (do-not-call, legal basis, full quota cells, no calling
window); quota holds can block hundreds of thousands of cases, so that count must not read the
cases either. ``case_tallies`` gets ``block_kind`` in its key (empty unless the phase is
``blocked``); the table is derived data, so it is rebuilt: triggers dropped, table recreated,
triggers recreated (same design as 0005), cases counted once.
"""

import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KEY_NAMES = ("study_id", "phase", "tier", "zone_id", "block_kind", "outcome", "aapor", "attempts")
KEY_COLUMNS = ", ".join(KEY_NAMES)


def _key_parts(row: str, least: str) -> list[str]:
    """The tally key of a case row (``row`` = NEW, OLD or a table alias), in KEY_NAMES order."""
    is_open = f"{row}.state IN ('ready', 'claimed') AND NOT {row}.is_test"
    is_blocked = f"{row}.state = 'blocked' AND NOT {row}.is_test"
    return [
        f"{row}.study_id",
        f"CASE WHEN {row}.is_test THEN 'test' WHEN {row}.state = 'final' THEN 'final' "
        f"WHEN {row}.state = 'blocked' THEN 'blocked' ELSE 'open' END",
        f"CASE WHEN {is_open} THEN {row}.tier ELSE -1 END",
        f"CASE WHEN {is_open} THEN {row}.zone_id ELSE 0 END",
        f"CASE WHEN {is_blocked} THEN {row}.block_kind ELSE '' END",
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
        AFTER UPDATE OF study_id, state, tier, zone_id, block_kind, outcome, aapor, attempts, is_test ON cases
        WHEN {_sqlite_key_changed()} BEGIN
        UPDATE case_tallies SET n = n - 1 WHERE {_sqlite_where("OLD")};
        INSERT INTO case_tallies ({KEY_COLUMNS}, n) VALUES ({_key("NEW", "min")}, 1)
        ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER case_tallies_delete AFTER DELETE ON cases BEGIN
        UPDATE case_tallies SET n = n - 1 WHERE {_sqlite_where("OLD")};
    END""",
)

POSTGRES_FUNCTION = f"""CREATE OR REPLACE FUNCTION case_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
    END $$"""

POSTGRES_TRIGGERS = (
    """CREATE TRIGGER case_tallies_insert AFTER INSERT ON cases REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
    """CREATE TRIGGER case_tallies_update AFTER UPDATE ON cases
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
    """CREATE TRIGGER case_tallies_delete AFTER DELETE ON cases REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION case_tallies_apply()""",
)


def _drop_triggers(postgres: bool) -> None:
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS case_tallies_{name}" + (" ON cases" if postgres else ""))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(postgres)
    op.drop_table('case_tallies')
    op.create_table('case_tallies',
    sa.Column('study_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('tier', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('zone_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('block_kind', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('aapor', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('study_id', 'phase', 'tier', 'zone_id', 'block_kind', 'outcome', 'aapor', 'attempts',
                            name=op.f('pk_case_tallies'))
    )
    if postgres:
        op.execute(POSTGRES_FUNCTION)
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(f"INSERT INTO case_tallies ({KEY_COLUMNS}, n) SELECT {KEY_COLUMNS}, count(*) FROM "
               f"(SELECT {_named_key('c', 'LEAST' if postgres else 'min')} FROM cases c) AS k "
               f"GROUP BY {KEY_COLUMNS}")


def _revision_0005():
    path = Path(__file__).with_name("0005_backchecks.py")
    spec = importlib.util.spec_from_file_location("cati_migration_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_triggers(postgres)
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS case_tallies_apply()")
    op.drop_table('case_tallies')
    previous = _revision_0005()
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
    for statement in previous.POSTGRES_TRIGGERS if postgres else previous.SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(f"INSERT INTO case_tallies ({previous.KEY_COLUMNS}, n) SELECT {previous.KEY_COLUMNS}, count(*) FROM "
               f"(SELECT {previous._named_key('c', 'LEAST' if postgres else 'min')} FROM cases c) AS k "
               f"GROUP BY {previous.KEY_COLUMNS}")
