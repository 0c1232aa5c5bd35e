"""Many interviewers at once: every case is delivered exactly once, and nobody is told "no case"
while a callable case exists. Real threads, real connections, real commits, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.db import get_engine
from cati.models import Case, User
from cati.services.sample_import import import_sample
from cati.services.scheduler import next_case
from cati.services.studies import assign_member, create_study, update_settings
from cati.services.users import create_user

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
CASES = 400
THREADS = 50


def _seed(engine) -> list[int]:
    with Session(engine) as session, session.begin():
        study = create_study(session, source=(EXAMPLES / "ebike_abo_konzept.yaml").read_text(),
                             source_name="ebike.yaml")
        update_settings(session, study, {"status": "field"})
        users = []
        for i in range(10):
            user = create_user(session, f"int{i:02d}", role="interviewer", password="geheim-passwort")
            assign_member(session, study, user)
            users.append(user)
        states = ["BE", "BY", "NW", "NI", "HH", "SN"]
        rows = "".join(f"C{i},+49 30 5{i:06d},{states[i % len(states)]}\n" for i in range(CASES))
        report = import_sample(session, study, ("id,phone,state\n" + rows).encode(), filename="s.csv")
        assert report.imported == CASES, report.lines()
        session.flush()
        return [u.id for u in users]


def test_fifty_claimers_get_every_case_exactly_once(clean_database, settings):
    engine = get_engine({**settings, "sqlalchemy.pool_size": str(THREADS + 5), "sqlalchemy.max_overflow": "0"})
    try:
        user_ids = _seed(engine)
        results: list[tuple[float, float, int | None]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def claimer(index: int) -> None:
            try:
                start.wait()
                while True:
                    begun = time.monotonic()
                    with Session(engine) as session, session.begin():
                        user = session.get(User, user_ids[index % len(user_ids)])
                        delivery = next_case(session, user, now=NOW)
                        case_id = delivery.case.id if delivery else None
                    with lock:
                        results.append((begun, time.monotonic(), case_id))
                    if case_id is None:
                        return
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors[0]
        claimed = [case_id for _, _, case_id in results if case_id is not None]
        assert len(claimed) == len(set(claimed)) == CASES
        # "No case" is only ever said when none was left: no claim that began after the first
        # "no case" answer succeeded.
        first_none = min(end for _, end, case_id in results if case_id is None)
        assert not [r for r in results if r[2] is not None and r[0] > first_none]
        assert sum(1 for r in results if r[2] is None) == THREADS
        with Session(engine) as session:
            assert set(session.scalars(select(Case.state))) == {"claimed"}
    finally:
        engine.dispose()
