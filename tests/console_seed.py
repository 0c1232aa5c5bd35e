"""Interviewers in the middle of interviews, for the tests and benchmarks that drive the console
over HTTP (``tests/functional/test_console_crash.py``, ``benchmarks/bench_console.py``): a study in
field, one interviewer per case, each case claimed by its interviewer with its interview open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cati.models import Case, StudyMember, User
from cati.models.meta import utcnow
from cati.services import interviews
from cati.services.sample_import import import_sample
from cati.services.studies import create_study, update_settings
from cati.services.users import hash_password


def interviewers_on_cases(session: Any, source: str, usernames: list[str], password: str) -> list[tuple[User, Case]]:
    """The study of questionnaire ``source``; (interviewer, case) pairs, in ``usernames`` order."""
    study = create_study(session, source=source, source_name="console.yaml", purpose="research")
    update_settings(session, study, {"status": "field"})
    password_hash = hash_password(password)  # once: argon2 is slow on purpose
    users = [User(username=name, role="interviewer", password_hash=password_hash, display_name=name.title(),
                  first_name=name.title(), code=f"B{i:07d}") for i, name in enumerate(usernames)]
    session.add_all(users)
    session.flush()
    session.add_all(StudyMember(study_id=study.id, user_id=u.id) for u in users)
    header = "id,phone,name,state,postcode,person_type,customer,consent_at,consent_source,language\n"
    rows = "".join(f"C{i:05d},030 5{i:06d},Person {i},BE,10437,private,no,,,de\n" for i in range(len(users)))
    report = import_sample(session, study, (header + rows).encode(), filename="console.csv")
    assert report.imported == len(users), report.lines()
    cases = session.scalars(select(Case).where(Case.study_id == study.id).order_by(Case.id)).all()
    now = utcnow()
    for user, case in zip(users, cases, strict=True):
        case.state, case.claimed_by, case.claimed_at, case.heartbeat_at = "claimed", user.id, now, now
        session.flush()
        interviews.open_for_case(session, case, user, now=now)
    return list(zip(users, cases, strict=True))
