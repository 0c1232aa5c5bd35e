"""The migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cati.migrate import current_revision
from cati.models import Base


def test_upgrade_head_matches_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_database_is_at_the_newest_revision(engine):
    from alembic.script import ScriptDirectory

    from cati.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"])
def test_audit_trail_refuses_update_and_delete(engine, clean_database, statement):
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO audit_events (at, action, target, details) "
                                "VALUES (CURRENT_TIMESTAMP, 'test', '', '{}')"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT action FROM audit_events")).scalars().all() == ["test"]
