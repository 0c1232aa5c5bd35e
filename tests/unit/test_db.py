"""Transactions driven by a transaction manager commit Core-only writes too."""

from __future__ import annotations

import transaction
from sqlalchemy import func, select, text

from cati.db import get_session_factory, get_tm_session
from cati.models import AuditEvent


def test_core_only_write_is_committed(engine, clean_database):
    # A claim is a guarded Core UPDATE and nothing else: it must survive the commit.
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        session.execute(text("INSERT INTO audit_events (at, action, target, details) "
                             "VALUES (CURRENT_TIMESTAMP, 'core-only', '', '{}')"))
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_aborted_transaction_writes_nothing(engine, clean_database):
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    session = get_tm_session(get_session_factory(engine), tm)
    session.execute(text("INSERT INTO audit_events (at, action, target, details) "
                         "VALUES (CURRENT_TIMESTAMP, 'aborted', '', '{}')"))
    tm.abort()
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
