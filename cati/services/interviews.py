"""Running an interview against the database: open or resume, answer, go back, end.

Every call changes the interview inside the caller's transaction and stores the whole engine
state, so an acknowledged answer is never lost and a reload resumes exactly. Saves are guarded by
the interview's revision (SQLAlchemy version counter): a request based on an older revision —
a second tab, a double submit, a second interviewer — is refused with :class:`StaleInterview`
instead of overwriting newer answers.

When the engine says the interview has ended (complete, screened out, quota full, refused inside
the questionnaire), the case gets the matching call outcome through the scheduler, and the
export row is stored with the interview.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cati.models import Case, Contact, Interview, QuestionnaireVersion, Study, User
from cati.models.meta import utcnow
from cati.questionnaires.engine import Ended, Engine, Result, Screen
from cati.questionnaires.sample_fields import preload
from cati.questionnaires.state import ENDED, State

from . import audit, quotas
from .questionnaires import compiled
from .scheduler import record_outcome


class InterviewError(ValueError):
    """The interview cannot be opened or changed; the message says why, for the interviewer."""


class StaleInterview(InterviewError):
    """The interview changed since the screen the request was based on."""


#: Engines by (version id, checksum): versions never change, but ids are reused when a (test)
#: database is emptied. The oldest go first beyond ENGINE_LIMIT.
_ENGINES: OrderedDict[tuple[int, str], Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
ENGINE_LIMIT = 64
_VERSION_SHA = select(QuestionnaireVersion.sha256).where(QuestionnaireVersion.id == bindparam("id"))


def _cached_engine(key: tuple[int, str], build: Callable[[], Engine]) -> Engine:
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            _ENGINES.move_to_end(key)
            return engine
    engine = build()  # outside the lock: compiling a long questionnaire takes a while
    with _ENGINES_LOCK:
        engine = _ENGINES.setdefault(key, engine)
        while len(_ENGINES) > ENGINE_LIMIT:
            _ENGINES.popitem(last=False)
    return engine


def _build(version: QuestionnaireVersion | None) -> Engine:
    assert version is not None
    return Engine(compiled(version.source, f"version {version.id}"))


def engine_for(version: QuestionnaireVersion) -> Engine:
    """The engine of a stored questionnaire version, built once per process."""
    return _cached_engine((version.id, version.sha256), lambda: _build(version))


def engine_of(session: Session, version_id: int) -> Engine:
    """The engine of version ``version_id`` for every step of an interview: only the version's
    checksum is read (its questionnaire text the first time only), and a session (a request) asks
    once per version."""
    known = session.info.setdefault("cati.engines", {})
    engine = known.get(version_id)
    if engine is None:
        key = (version_id, session.scalar(_VERSION_SHA, {"id": version_id}))
        engine = known[version_id] = _cached_engine(key, lambda: _build(session.get(QuestionnaireVersion, version_id)))
    return engine


@dataclass(frozen=True)
class View:
    """What the interviewer screen needs: the interview and its current screen."""

    interview: Interview
    screen: Screen | Ended


def _standard_columns(case: Case, contact: Contact | None) -> dict[str, Any]:
    standard: dict[str, Any] = {"state": case.zone.region if case.zone else None, "language": case.language,
                                "person_type": case.person_type, "customer": "yes" if case.customer else "no"}
    if contact is not None:
        standard.update(name=contact.name, postcode=contact.postcode,
                        phone=contact.phones[0].e164 if contact.phones else None)
    return standard


def _lang(engine: Engine, wanted: str) -> str:
    languages = engine.questionnaire.languages
    return wanted if wanted in languages else languages[0]


def open_for_case(session: Session, case: Case, user: User, *, now: dt.datetime | None = None) -> View:
    """The case's interview, started on the study's current questionnaire version or resumed.

    The case must be claimed by ``user`` (the scheduler's claim is what makes a case one
    interviewer's); a second interviewer is refused.
    """
    if case.state != "claimed" or case.claimed_by != user.id:
        raise InterviewError("this case is not yours: it is being worked on by someone else or was released")
    interview = session.scalar(select(Interview).where(Interview.case_id == case.id))
    if interview is not None:
        engine = engine_of(session, interview.version_id)
        if interview.status == "broken_off":
            interview.status = "active"
            interview.updated_at = now or utcnow()
        if interview.status == "active":
            # places released at a break-off or a lost claim are taken again, if still free
            full = quotas.on_interview_resume(session, interview)
            if full is not None:
                return View(interview, _end_as_quota_full(session, interview, engine, full, user, now))
        return View(interview, engine.screen(State.from_dict(interview.state)))
    study = session.get(Study, case.study_id)
    version = study.current_version
    if version is None:
        raise InterviewError("the study has no questionnaire")
    engine = engine_for(version)
    contact = session.get(Contact, case.id)
    sample = preload(engine.questionnaire.sample, case.fields or {}, (contact.pii_fields if contact else {}) or {},
                     _standard_columns(case, contact))
    interview = Interview(study_id=study.id, case_id=case.id, version_id=version.id, resp_id=uuid.uuid4().hex,
                          status="active", lang="", interviewer_id=user.id, state={})
    session.add(interview)
    session.flush()
    state = engine.start(secrets.randbits(62), sample, lang=_lang(engine, case.language),
                         interviewer_name=user.first_name, now=now,
                         gate=quotas.gate_for(session, study, interview))
    _store(session, interview, engine, state, now)
    audit.record(session, "interview.start", user_id=user.id, study_id=study.id, target=f"interview:{interview.id}",
                 details={"case": case.ref, "version": version.version})
    screen = engine.screen(state)
    if isinstance(screen, Ended):  # ended before its first screen (a full sample quota cell, say)
        _finish(session, interview, engine, state, screen, user, now)
    return View(interview, screen)


def _state(interview: Interview) -> State:
    return State.from_dict(interview.state)


def _check_revision(interview: Interview, revision: int | None) -> None:
    if revision is not None and revision != interview.revision:
        raise StaleInterview("this interview was continued in another window; the current question is shown again")


@lru_cache(maxsize=64)
def personal_keys(engine: Engine) -> frozenset[str]:
    """The answer keys of the questions marked ``pii`` (with their loop iterations, grid rows and
    "other" texts), from the engine's codebook; built once per engine."""
    return frozenset(v.answer_key for v in engine.codebook()
                     if v.pii and v.question_id is not None and v.answer_key is not None)


#: What an ``interview.answer`` event records for a changed answer to a ``pii`` question: the
#: audit trail is append-only, so the personal value (a call-back number) must never be in it.
PERSONAL_CHANGE = {"pii": True}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any],
             personal: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {k: dict(PERSONAL_CHANGE) if k in personal else [before.get(k), after.get(k)]
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def _store(session: Session, interview: Interview, engine: Engine, state: State, now: dt.datetime | None) -> None:
    """Write the state now, not at commit: the flush bumps the revision, and a concurrent save of
    the same interview makes it fail here (StaleInterview). The caller must then abort its
    transaction (the web layer raises an HTTP error, which pyramid_tm rolls back)."""
    interview.state = state.to_dict()
    interview.lang = state.lang
    interview.updated_at = now or utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise StaleInterview("this interview was saved by another request meanwhile; please reload") from None


def answer(
    session: Session,
    interview: Interview,
    user: User,
    key: str,
    value: Any,
    *,
    others: Mapping[str, Any] | None = None,
    confirm_soft: Iterable[int] = (),
    revision: int | None = None,
    now: dt.datetime | None = None,
) -> Result:
    """Validate and store an answer to the current screen; end the interview if the route ends."""
    _check_revision(interview, revision)
    engine = engine_of(session, interview.version_id)
    state = _state(interview)
    before = dict(state.answers)
    study = session.get(Study, interview.study_id)
    result = engine.answer(state, key, value, others=others, confirm_soft=confirm_soft, now=now,
                           gate=quotas.gate_for(session, study, interview), interviewer=user.first_name)
    if result.accepted:
        changes = _changes(before, state.answers, personal_keys(engine))
        _store(session, interview, engine, state, now)
        if changes:
            audit.record(session, "interview.answer", user_id=user.id, study_id=interview.study_id,
                         target=f"interview:{interview.id}", details={"key": key, "changes": changes})
        if isinstance(result.screen, Ended):
            _finish(session, interview, engine, state, result.screen, user, now)
    return result


def forward(session: Session, interview: Interview, user: User, *, confirm_soft: Iterable[int] = (),
            revision: int | None = None, now: dt.datetime | None = None) -> Result:
    """Go on from an info screen or a revisited question, keeping its answer."""
    _check_revision(interview, revision)
    engine = engine_of(session, interview.version_id)
    state = _state(interview)
    study = session.get(Study, interview.study_id)
    result = engine.forward(state, confirm_soft=confirm_soft, now=now, gate=quotas.gate_for(session, study, interview))
    if result.accepted:
        _store(session, interview, engine, state, now)
        if isinstance(result.screen, Ended):
            _finish(session, interview, engine, state, result.screen, user, now)
    return result


def back(session: Session, interview: Interview, user: User, to_key: str | None = None, *,
         revision: int | None = None, now: dt.datetime | None = None) -> Screen:
    _check_revision(interview, revision)
    if interview.status not in ("active", "broken_off"):
        raise InterviewError("the interview has ended; a supervisor can reopen it")
    engine = engine_of(session, interview.version_id)
    state = _state(interview)
    screen = engine.back(state, to_key, now=now)
    _store(session, interview, engine, state, now)
    return screen


def set_language(session: Session, interview: Interview, lang: str, *, revision: int | None = None) -> Screen | Ended:
    _check_revision(interview, revision)
    engine = engine_of(session, interview.version_id)
    state = _state(interview)
    screen = engine.set_language(state, lang)
    _store(session, interview, engine, state, None)
    return screen


#: The call outcome a questionnaire ending gives the case, by the ending's AAPOR class.
def outcome_for(aapor: str) -> str:
    if aapor == "1.1":
        return "complete"
    if aapor.startswith("1.2"):
        return "partial"
    if aapor.startswith("4.8"):
        return "quota_full"
    if aapor.startswith("4."):
        return "screened_out"
    if aapor.startswith("2.12"):
        return "break_off"
    if aapor.startswith("2.1"):
        return "hard_refusal"
    return "screened_out"


def _finish(session: Session, interview: Interview, engine: Engine, state: State, ended: Ended, user: User,
            now: dt.datetime | None) -> None:
    disposition = engine.questionnaire.dispositions[ended.disposition]
    interview.status = "complete" if ended.status == "complete" else "ended"
    interview.disposition, interview.disposition_code = disposition.name, disposition.code
    interview.ended_at = now or utcnow()
    interview.data = engine.export_row(state, paradata_for(session, interview))
    quotas.on_interview_end(session, interview)
    if interview.case_id is not None:
        case = session.get(Case, interview.case_id)
        record_outcome(session, case, user, outcome_for(disposition.aapor), now=interview.ended_at,
                       aapor=disposition.aapor, note=f"questionnaire: {disposition.name}")
    audit.record(session, "interview.end", user_id=user.id, study_id=interview.study_id,
                 target=f"interview:{interview.id}", details={"disposition": disposition.name,
                                                              "status": interview.status})


def _end_as_quota_full(session: Session, interview: Interview, engine: Engine, quota_id: str, user: User,
                       now: dt.datetime | None) -> Ended:
    """The interview resumed, but the quota cell it had passed filled in the meantime: it ends
    with the quota's ``on_full`` disposition, as it would have at the checkpoint."""
    state = _state(interview)
    moment = (now or utcnow()).isoformat(timespec="seconds")
    state.ending = {"disposition": engine.flow.quotas[quota_id].on_full, "node": f"quota:{quota_id}"}
    state.stack, state.status, state.ended_at, state.updated_at = [], ENDED, moment, moment
    _store(session, interview, engine, state, now)
    ended = engine.screen(state)
    assert isinstance(ended, Ended)
    _finish(session, interview, engine, state, ended, user, now)
    return ended


def paradata_for(session: Session, interview: Interview) -> dict[str, Any]:
    """What only the server knows: the pseudonymous ids."""
    code = None
    if interview.interviewer_id is not None:
        code = session.scalar(select(User.code).where(User.id == interview.interviewer_id))
    return {"resp_id": interview.resp_id, "interviewer_id": code}


def break_off(session: Session, interview: Interview, user: User, *, note: str = "",
              now: dt.datetime | None = None) -> None:
    """The respondent hung up mid-interview: keep every answer, resume on the next call.

    The call outcome is recorded first: it validates its input (a note is required) before it
    changes anything, so a refused break-off leaves the interview and its quota places untouched.
    """
    if interview.case_id is not None:
        record_outcome(session, session.get(Case, interview.case_id), user, "break_off", note=note, now=now)
    interview.status = "broken_off"
    interview.updated_at = now or utcnow()
    quotas.on_interview_pause(session, interview)
