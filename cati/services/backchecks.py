"""Back-checks (quality control): draw a share of each interviewer's completes for verification,
record the result, and invalidate interviews that failed.

* The share is a study setting (``backcheck_share``, default 10 % - industry practice, see the
  domain notes on ISO 20252). For each interviewer, ``ceil(share x completes)`` interviews are
  drawn at random among their completes not drawn before, so every interviewer with a complete
  is checked at least once and drawing again later tops the sample up as completes come in.
* A failed check may invalidate the interview: the quota service takes it out of its cells
  (``quotas.invalidate_interview``; its status becomes ``invalidated``, which also keeps it out of
  data exports), and its case loses the complete: the case's disposition becomes the most
  informative outcome of its other calls, made final (no other calls: 3.90, eligibility unknown).
* A recorded result is not changed afterwards; the audit trail has every draw and result.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.models import Attempt, BackCheck, Case, Interview, Study, User
from cati.models.meta import utcnow
from cati.sampling.dispositions import current_disposition

from . import audit, quotas, scheduler

__all__ = ["DEFAULT_SHARE", "BackcheckError", "draw", "overview", "record_result", "set_share", "share_for"]

DEFAULT_SHARE = 0.10
SHARE_KEY = "backcheck_share"
#: Outcomes that come from a (now invalidated) interview and no longer count for the case.
INTERVIEW_OUTCOMES = ("complete", "partial")


class BackcheckError(ValueError):
    """A refused back-check action; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def share_for(study: Study) -> float:
    """The study's back-check share (0..1)."""
    value = (study.settings or {}).get(SHARE_KEY)
    return DEFAULT_SHARE if value is None else float(value)


def set_share(session: Session, study: Study, share: float, actor_id: int | None = None) -> None:
    """Set the share of each interviewer's completes to back-check (0..1)."""
    if not (isinstance(share, int | float) and math.isfinite(share) and 0 <= share <= 1):
        raise BackcheckError("share", "must lie between 0 and 100 %")
    settings = dict(study.settings or {})
    before = settings.get(SHARE_KEY)
    settings[SHARE_KEY] = float(share)
    study.settings = settings
    audit.record(session, "study.settings", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details={"changes": {SHARE_KEY: float(share)}, "before": {SHARE_KEY: before}})


@dataclass
class InterviewerChecks:
    user_id: int | None
    name: str
    completes: int = 0
    wanted: int = 0
    pending: int = 0
    passed: int = 0
    failed: int = 0
    invalidated: int = 0

    @property
    def drawn(self) -> int:
        return self.pending + self.passed + self.failed

    @property
    def missing(self) -> int:
        return max(0, self.wanted - self.drawn)


def _completes(session: Session, study: Study) -> dict[int | None, int]:
    return {user_id: int(n) for user_id, n in session.execute(
        select(Interview.interviewer_id, func.count())
        .where(Interview.study_id == study.id, Interview.status == "complete", Interview.is_test.is_(False))
        .group_by(Interview.interviewer_id))}


def overview(session: Session, study: Study, share: float | None = None) -> list[InterviewerChecks]:
    """Per interviewer: completes, checks wanted at ``share`` (default: the study's), drawn and
    their results."""
    share = share_for(study) if share is None else share
    completes = _completes(session, study)
    rows: dict[int | None, InterviewerChecks] = {}

    def row(user_id: int | None) -> InterviewerChecks:
        if user_id not in rows:
            rows[user_id] = InterviewerChecks(user_id, "")
        return rows[user_id]

    for user_id, n in completes.items():
        # Invalidated interviews no longer count as completes but were drawn: add them back below.
        row(user_id).completes = n
    for user_id, status, invalidated, n in session.execute(
        select(BackCheck.interviewer_id, BackCheck.status, BackCheck.invalidated, func.count())
        .where(BackCheck.study_id == study.id)
        .group_by(BackCheck.interviewer_id, BackCheck.status, BackCheck.invalidated)
    ):
        entry = row(user_id)
        setattr(entry, status, getattr(entry, status) + n)
        if invalidated:
            entry.invalidated += n
    names = dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_([u for u in rows if u is not None]))).all()) if rows else {}
    for user_id, entry in rows.items():
        entry.name = names.get(user_id, "–") if user_id is not None else "–"
        entry.wanted = math.ceil(share * (entry.completes + entry.invalidated) - 1e-9)
    return sorted(rows.values(), key=lambda r: (r.user_id is None, r.name.lower()))


def draw(session: Session, study: Study, *, share: float | None = None, actor_id: int | None = None,
         rng: random.Random | None = None) -> list[BackCheck]:
    """Draw back-checks so that each interviewer has ``ceil(share x completes)`` of them."""
    share = share_for(study) if share is None else share
    if not 0 <= share <= 1:
        raise BackcheckError("share", "must lie between 0 and 100 %")
    rng = rng or random.SystemRandom()
    drawn_ids = select(BackCheck.interview_id).where(BackCheck.study_id == study.id)
    new: list[BackCheck] = []
    per_interviewer: dict[str, int] = {}
    for entry in overview(session, study, share):
        if entry.missing <= 0 or entry.user_id is None:
            continue
        candidates = list(session.scalars(
            select(Interview.id).where(
                Interview.study_id == study.id, Interview.status == "complete", Interview.is_test.is_(False),
                Interview.interviewer_id == entry.user_id, Interview.id.not_in(drawn_ids))
            .order_by(Interview.id)
        ))
        for interview_id in sorted(rng.sample(candidates, min(entry.missing, len(candidates)))):
            check = BackCheck(study_id=study.id, interview_id=interview_id, interviewer_id=entry.user_id,
                              status="pending", drawn_by=actor_id, drawn_at=utcnow())
            session.add(check)
            new.append(check)
        per_interviewer[str(entry.user_id)] = min(entry.missing, len(candidates))
    session.flush()
    audit.record(session, "backcheck.draw", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details={"share": share, "drawn": len(new), "per_interviewer": per_interviewer})
    return new


def record_result(session: Session, check: BackCheck, *, passed: bool, note: str = "", invalidate: bool = False,
                  actor_id: int | None = None) -> None:
    """Record the outcome of a back-check; a failed one may invalidate its interview."""
    note = note.strip()
    if check.status != "pending":
        raise BackcheckError("check", f"the result was recorded already ({check.status})")
    if not passed and len(note) < 3:
        raise BackcheckError("note", "say what did not match")
    if passed and invalidate:
        raise BackcheckError("invalidate", "only a failed check invalidates its interview")
    interview = session.get(Interview, check.interview_id)
    assert interview is not None
    if invalidate:
        try:
            quotas.invalidate_interview(session, interview, actor_id=actor_id,
                                        reason=f"back-check {check.id} failed")
        except ValueError as exc:
            raise BackcheckError("invalidate", str(exc)) from None
        if interview.case_id is not None:
            _uncomplete(session, session.get(Case, interview.case_id))
    check.status = "passed" if passed else "failed"
    check.checked_at, check.checked_by = utcnow(), actor_id
    check.note, check.invalidated = note[:2000], bool(invalidate)
    audit.record(session, "backcheck.result", user_id=actor_id, study_id=check.study_id,
                 target=f"interview:{check.interview_id}",
                 details={"passed": passed, "invalidated": bool(invalidate), "note": bool(note)})


def _uncomplete(session: Session, case: Case | None) -> None:
    """The case of an invalidated interview: its other calls decide its (final) disposition."""
    if case is None:
        return
    study = session.get(Study, case.study_id)
    table = scheduler.rules_for(study).outcomes
    history = [o for o in session.scalars(select(Attempt.outcome).where(Attempt.case_id == case.id)
                                          .order_by(Attempt.id)) if o not in INTERVIEW_OUTCOMES and o in table]
    disposition = current_disposition([*history, "max_attempts"], table)
    assert disposition is not None
    before = {"outcome": case.outcome, "aapor": case.aapor}
    case.outcome, case.aapor, case.state, case.next_call_at = disposition.code, disposition.aapor, "final", None
    audit.record(session, "case.invalidated", study_id=case.study_id, target=f"case:{case.ref}",
                 details={"outcome": case.outcome, "aapor": case.aapor, "before": before})


@dataclass(frozen=True)
class CheckRow:
    check: BackCheck
    interviewer: str
    ref: str | None
    case_id: int | None
    resp_id: str
    ended_at: Any


def checks(session: Session, study: Study, *, status: str | None = None, interviewer_id: int | None = None,
           limit: int = 200) -> list[CheckRow]:
    """The study's back-checks, pending first, with what the caller needs to call back."""
    query = (
        select(BackCheck, User.display_name, Case.ref, Case.id, Interview.resp_id, Interview.ended_at)
        .join(Interview, Interview.id == BackCheck.interview_id)
        .outerjoin(Case, Case.id == Interview.case_id)
        .outerjoin(User, User.id == BackCheck.interviewer_id)
        .where(BackCheck.study_id == study.id)
    )
    if status:
        query = query.where(BackCheck.status == status)
    if interviewer_id:
        query = query.where(BackCheck.interviewer_id == interviewer_id)
    order = (BackCheck.status != "pending", BackCheck.id)
    rows = session.execute(query.order_by(*order).limit(limit)).all()
    return [CheckRow(r[0], r[1] or "–", r[2], r[3], r[4], r[5]) for r in rows]


def get_check(session: Session, study: Study, check_id: int) -> BackCheck | None:
    check = session.get(BackCheck, check_id)
    return check if check is not None and check.study_id == study.id else None

