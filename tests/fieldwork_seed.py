"""Seeding helpers for the supervisor tests (dashboard, productivity, back-checks, case admin,
reports): a study on the e-bike example questionnaire and cases, attempts and interviews written
directly, so each test states exactly the fieldwork it checks."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cati.models import Attempt, CallingZone, Case, CasePhone, Contact, Interview, Study, StudyZone, User
from cati.services.studies import assign_member, create_study, update_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "specs" / "examples"
BERLIN = ZoneInfo("Europe/Berlin")

_refs = itertools.count(1)


def local(*args: int) -> dt.datetime:
    """A Berlin wall-clock time as aware UTC."""
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)


#: A Tuesday without holidays anywhere in Germany.
TUESDAY_10 = local(2026, 11, 24, 10, 0)


def make_study(session: Any, slug: str = "ebike", status: str = "field") -> Study:
    source = (EXAMPLES / "ebike_abo_konzept.yaml").read_text(encoding="utf-8")
    study = create_study(session, source=source, source_name="ebike.yaml", slug=slug, purpose="research")
    if status != "draft":
        update_settings(session, study, {"status": status})
    return study


def make_user(session: Any, study: Study | None, username: str, role: str = "interviewer") -> User:
    """A user who cannot log in (no password hash: argon2 is slow on purpose), assigned to ``study``."""
    user = User(username=username, display_name=username, first_name=username, role=role, password_hash="!",
                code=f"Z{next(_refs):06d}")
    session.add(user)
    session.flush()
    if study is not None:
        assign_member(session, study, user)
    return user


def zone(session: Any, study: Study, region: str = "BE", tz: str = "Europe/Berlin", country: str = "DE") -> int:
    found = session.scalar(select(CallingZone).where(CallingZone.tz == tz, CallingZone.country == country,
                                                     CallingZone.region == region))
    if found is None:
        found = CallingZone(tz=tz, country=country, region=region)
        session.add(found)
        session.flush()
    if session.get(StudyZone, (study.id, found.id)) is None:
        session.add(StudyZone(study_id=study.id, zone_id=found.id))
        session.flush()
    return found.id


def add_case(session: Any, study: Study, ref: str | None = None, *, zone_id: int | None = None,
             phone: str | None = None, **values: Any) -> Case:
    """A case; ``values`` set columns (state, tier, outcome, aapor, attempts, order_key...)."""
    ref = ref or f"C{next(_refs):05d}"
    defaults: dict[str, Any] = {"state": "ready", "tier": 2, "order_key": next(_refs), "outcome": "",
                                "aapor": "3.11", "attempts": 0}
    defaults.update(values)
    if defaults.get("next_call_at") is not None and "order_key" not in values:
        defaults["order_key"] = int(defaults["next_call_at"].timestamp())
    case = Case(study_id=study.id, ref=ref, zone_id=zone_id or zone(session, study), **defaults)
    session.add(case)
    session.flush()
    if phone is not None:
        session.add(Contact(case_id=case.id, name="Erika Muster"))
        session.flush()
        session.add(CasePhone(case_id=case.id, study_id=study.id, e164=phone))
        session.flush()
    return case


def add_attempt(session: Any, case: Case, user: User | None, outcome: str, aapor: str, started_at: dt.datetime,
                minutes: float = 2.0) -> Attempt:
    attempt = Attempt(case_id=case.id, study_id=case.study_id, user_id=user.id if user else None,
                      started_at=started_at, ended_at=started_at + dt.timedelta(minutes=minutes),
                      outcome=outcome, aapor=aapor)
    session.add(attempt)
    session.flush()
    return attempt


def add_interview(session: Any, study: Study, case: Case | None, user: User | None, *, status: str = "complete",
                  started_at: dt.datetime, minutes: float = 12.0) -> Interview:
    interview = Interview(
        study_id=study.id, case_id=case.id if case else None, version_id=study.current_version.id,
        resp_id=str(uuid.uuid4()), status=status, lang="de", interviewer_id=user.id if user else None,
        started_at=started_at, updated_at=started_at,
        ended_at=started_at + dt.timedelta(minutes=minutes) if status != "active" else None,
        state={}, data={"resp_id": "x"} if status == "complete" else None,
        disposition="COMPLETE" if status == "complete" else None,
    )
    session.add(interview)
    session.flush()
    return interview
