"""Thirty interviewers race into a hard cell with five places left: exactly five complete in it,
the others end with the quota's on_full disposition, and nothing is counted twice. Real threads,
real connections, one transaction per request, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.db import get_engine
from cati.models import Case, Interview, QuotaCell, QuotaReservation, Study, User
from cati.questionnaires.engine import Ended
from cati.services import interviews, quotas
from cati.services.sample_import import import_sample
from cati.services.scheduler import next_case
from cati.services.studies import assign_member, create_study, update_settings

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
THREADS = 30
PLACES = 5
EARLIER = 2  # completes in the cell before the race
#: Every answer of the e-bike questionnaire up to the end; S1/S2 put the respondent in m_18_44.
SCRIPT = {"S1": 30, "S2": 1, "S3": [5], "S4": 1, "K1": "DK", "K3": 5, "K4": {1: 1, 2: 1, 3: 1, 4: 1},
          "D1": 1, "D3": 1, "D4": "12345"}
CHECKPOINT = "S4"  # answering it passes the quota node


def _seed(engine) -> tuple[int, list[int]]:
    with Session(engine) as session, session.begin():
        study = create_study(session, source=(EXAMPLES / "ebike_abo_konzept.yaml").read_text(),
                             source_name="ebike.yaml")
        update_settings(session, study, {"status": "field"})
        users = []
        for i in range(THREADS):
            user = User(username=f"int{i:02d}", display_name=f"Interviewer {i}", first_name=f"I{i}",
                        role="interviewer", password_hash="x", code=f"I{i:04d}")
            session.add(user)
            session.flush()
            assign_member(session, study, user)
            users.append(user.id)
        rows = "".join(f"C{i},+49 30 5{i:06d},BE\n" for i in range(THREADS + EARLIER))
        report = import_sample(session, study, ("id,phone,state\n" + rows).encode(), filename="s.csv")
        assert report.imported == THREADS + EARLIER, report.lines()
        return study.id, users


def _request(engine, work):
    """One web request: one transaction."""
    with Session(engine) as session, session.begin():
        return work(session)


def _answer_until(engine, interview_id, user_id, stop=None):
    """Answer request by request until the screen ``stop`` (or the end); the final screen."""
    while True:
        def step(session):
            interview = session.get(Interview, interview_id)
            user = session.get(User, user_id)
            view = interviews.open_for_case(session, session.get(Case, interview.case_id), user, now=NOW)
            screen = view.screen
            if isinstance(screen, Ended) or screen.key == stop:
                return screen, False
            if screen.type == "info":
                result = interviews.forward(session, interview, user, now=NOW)
            else:
                result = interviews.answer(session, interview, user, screen.key, SCRIPT[screen.key], now=NOW)
            assert result.accepted, (screen.key, result.errors)
            return result.screen, True

        screen, moved = _request(engine, step)
        if not moved or isinstance(screen, Ended):
            return screen


def _claim_and_open(engine, user_id) -> int:
    def work(session):
        user = session.get(User, user_id)
        delivery = next_case(session, user, now=NOW)
        assert delivery is not None
        return interviews.open_for_case(session, delivery.case, user, now=NOW).interview.id

    return _request(engine, work)


def test_thirty_interviewers_race_for_five_places(clean_database, settings):
    engine = get_engine({**settings, "sqlalchemy.pool_size": str(THREADS + 5), "sqlalchemy.max_overflow": "0"})
    try:
        study_id, user_ids = _seed(engine)
        # two completes first, then the target leaves five places
        for user_id in user_ids[:EARLIER]:
            interview_id = _claim_and_open(engine, user_id)
            assert _answer_until(engine, interview_id, user_id).disposition == "COMPLETE"
        _request(engine, lambda s: update_settings(s, s.get(Study, study_id),
                                                   {"quota.alter_geschlecht.m_18_44": str(EARLIER + PLACES)}))

        results: dict[int, str] = {}
        errors: list[BaseException] = []
        at_checkpoint = threading.Barrier(THREADS)

        def interviewer(user_id: int) -> None:
            try:
                interview_id = _claim_and_open(engine, user_id)
                screen = _answer_until(engine, interview_id, user_id, stop=CHECKPOINT)
                assert screen.key == CHECKPOINT
                at_checkpoint.wait(timeout=120)
                results[interview_id] = _answer_until(engine, interview_id, user_id).disposition
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)
                at_checkpoint.abort()

        threads = [threading.Thread(target=interviewer, args=(user_ids[i % len(user_ids)],)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not errors, repr(errors[0])
        assert len(results) == THREADS
        assert sorted(results.values()).count("COMPLETE") == PLACES
        assert sorted(results.values()).count("QUOTA_FULL") == THREADS - PLACES

        with Session(engine) as session, session.begin():
            study = session.get(Study, study_id)
            row = session.scalar(select(QuotaCell).where(QuotaCell.study_id == study_id,
                                                         QuotaCell.cell == "m_18_44"))
            assert (row.completes, row.pending) == (EARLIER + PLACES, 0)
            statuses = dict(session.execute(
                select(QuotaReservation.status, func.count()).where(QuotaReservation.cell_id == row.id)
                .group_by(QuotaReservation.status)).all())
            assert statuses == {"complete": EARLIER + PLACES, "rejected": THREADS - PLACES}
            assert quotas.recount(session, study) == []  # the counters are exactly the reservations
            completes = session.scalar(select(func.count()).select_from(Interview)
                                       .where(Interview.study_id == study_id, Interview.status == "complete"))
            assert completes == EARLIER + PLACES
            quota_full = session.scalar(select(func.count()).select_from(Case)
                                        .where(Case.study_id == study_id, Case.aapor == "4.80"))
            assert quota_full == THREADS - PLACES
    finally:
        engine.dispose()
