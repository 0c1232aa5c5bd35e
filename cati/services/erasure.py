"""Erasing a respondent's contact data (GDPR Art. 17) while the anonymous answers stay.

What goes, for each case, in one transaction (the caller's):

* its ``contacts`` row (name, postcode, personal sample fields) and its ``case_phones``;
* copies of that contact data in its interview: sample values the interview preloaded from the
  contact (``name``, ``postcode``, ``phone`` and personal fields) are removed from the engine
  state and from the stored export row;
* the answers to questions marked ``pii`` (a call-back number, an e-mail address), from the
  engine state (with soft-check inputs and frozen values naming them) and the stored export row.
  The data export leaves ``pii`` variables out, so it is the same; every other answer stays;
* the free-text notes of its call attempts (interviewers write names, numbers, "call the
  daughter on ..."); the outcome, AAPOR code, time and interviewer of every attempt stay.
  Attempts store the position of the number dialled, never the number;
* its ``contact_changes``: old and new names and numbers of contact corrections and the notes of
  supervisors (closing the case, appointments). Their audit events name only who, when, the field
  and the row's id, so the audit trail then shows "erased" instead of the values;
* the note of a back-check of its interview (the result stays).

The case itself stays (its reference is the client's pseudonym, its disposition counts in the
rates) but can never be delivered again: ``block_kind = "erased"``; an open case becomes
``blocked``, a closed one stays ``final`` with its disposition. With ``do_not_call`` the numbers
first go on the global do-not-call list (Art. 21 objection): stored as salted hashes, the block
outlives the erasure and stops the same numbers in every other study.

A case an interviewer is working on is refused (release it or wait until the call ends), and so
is a reason that contains the contact's name or number: each erasure writes one audit event,
which can never be erased itself, so it holds no personal data (who, when, case, reason, counts).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cati.models import Attempt, AuditEvent, BackCheck, Case, CasePhone, Contact, ContactChange, Interview, Study, User
from cati.models.meta import utcnow

from . import audit, dnc, export_jobs
from .interviews import engine_of, personal_keys

__all__ = ["ERASED", "Erased", "ErasureError", "erase_contacts", "find_cases"]

#: ``Case.block_kind`` of a case whose contact data was erased.
ERASED = "erased"
DEFAULT_REASON = "erasure request (GDPR Art. 17)"
#: Standard contact columns an interview may have preloaded as sample fields.
_CONTACT_COLUMNS = ("name", "postcode", "phone")


class ErasureError(ValueError):
    """Why nothing was erased; ``refs`` names the cases at fault."""

    def __init__(self, message: str, refs: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.refs = list(refs)


@dataclass(frozen=True)
class Erased:
    ref: str
    case_id: int
    already: bool = False  # erased before: nothing left to do, no event
    numbers: int = 0
    dnc: bool = False
    notes_blanked: int = 0
    sample_values_removed: int = 0
    #: answers to questions marked ``pii`` removed from the interview (loop iterations count each)
    pii_answers_removed: int = 0
    #: ``contact_changes`` rows deleted (corrected names and numbers, supervisors' notes).
    changes_deleted: int = 0
    #: ``contact.correct`` audit events written before ``contact_changes`` existed (migration
    #: 0009): they hold old and new names or numbers, and the append-only trail keeps them.
    audit_events_with_contact_data: int = 0


def find_cases(session: Session, study: Study, refs: Iterable[str]) -> list[Case]:
    """The cases of ``study`` with these references, in the order given (duplicates once).
    Raises :class:`ErasureError` naming every unknown reference."""
    wanted = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
    if not wanted:
        raise ErasureError("no case references given")
    found: dict[str, Case] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update((c.ref, c) for c in session.scalars(select(Case).where(Case.study_id == study.id,
                                                                             Case.ref.in_(chunk))))
    unknown = [r for r in wanted if r not in found]
    if unknown:
        raise ErasureError(f"{len(unknown)} unknown case references in study {study.slug}: "
                           f"{', '.join(unknown)}; nothing erased", unknown)
    return [found[r] for r in wanted]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _check_reason(reason: str, contacts: dict[int, Contact], numbers: dict[int, list[str]],
                  refs: dict[int, str]) -> None:
    lowered, digits = reason.lower(), _digits(reason)
    for case_id, ref in refs.items():
        contact = contacts.get(case_id)
        name = contact.name.strip().lower() if contact is not None else ""
        tails = [_digits(n)[-6:] for n in numbers.get(case_id, [])]
        if (name and name in lowered) or (len(digits) >= 6 and any(t in digits for t in tails)):
            raise ErasureError(f"the reason names the contact of case {ref}: the audit trail cannot be erased, "
                               "so give a reason without name or number", [ref])


def _strip_sample(interview: Interview, keys: set[str]) -> int:
    """Remove contact-derived sample values from the interview's state and export row."""
    state = dict(interview.state or {})
    sample = dict(state.get("sample") or {})
    gone = [k for k in sample if k in keys]
    if not gone:
        return 0
    state["sample"] = {k: v for k, v in sample.items() if k not in keys}
    interview.state = state
    if interview.data:
        interview.data = {k: (None if k in gone else v) for k, v in interview.data.items()}
    return len(gone)


def _strip_personal_answers(session: Session, interview: Interview) -> int:
    """Remove the answers to ``pii`` questions from the interview's state and export row."""
    engine = engine_of(session, interview.version_id)
    keys = personal_keys(engine)
    if not keys:
        return 0
    personal = [v for v in engine.codebook() if v.pii and v.question_id is not None]
    names = keys | {v.question_id for v in personal}
    state = dict(interview.state or {})
    answers = dict(state.get("answers") or {})
    gone = [k for k in answers if k in keys]
    state["answers"] = {k: v for k, v in answers.items() if k not in keys}
    state["frozen"] = {k: v for k, v in (state.get("frozen") or {}).items() if k not in keys}
    # a confirmed soft check stores the values it was confirmed on
    state["soft"] = [{**s, "inputs": {n: (None if n in names else v) for n, v in (s.get("inputs") or {}).items()}}
                     for s in state.get("soft") or []]
    interview.state = state
    if interview.data:
        columns = {v.name for v in personal}
        interview.data = {k: (None if k in columns else v) for k, v in interview.data.items()}
    return len(gone)


def erase_contacts(session: Session, study: Study, cases: Sequence[Case], *, actor_id: int | None,
                   reason: str = "", do_not_call: bool = False, dnc_salt: str = "cati-dnc",
                   export_directory: Path | None = None, now: dt.datetime | None = None) -> list[Erased]:
    """Erase the contact data of ``cases`` (all of ``study``); see the module docstring. With
    ``export_directory`` (``cati.export_dir``) the study's contact export files go too: any of them
    may hold the erased people.

    Checks everything first and raises :class:`ErasureError` before writing; a case claimed
    between the check and the update also raises, after writes: the caller's transaction must
    roll back (``cati.cli.env.command_env`` does), so it is all or nothing either way.
    """
    now = now or utcnow()
    reason = " ".join(reason.split()) or DEFAULT_REASON
    if len(reason) > 300:
        raise ErasureError("the reason is longer than 300 characters")
    foreign = [c.ref for c in cases if c.study_id != study.id]
    if foreign:
        raise ErasureError(f"cases of another study: {', '.join(foreign)}", foreign)
    claimed = [c for c in cases if c.state == "claimed"]
    if claimed:
        names = dict(session.execute(select(User.id, User.display_name).where(
            User.id.in_({c.claimed_by for c in claimed if c.claimed_by is not None}))).all())
        who = ", ".join(f"{c.ref} (by {names.get(c.claimed_by, 'an interviewer')})" for c in claimed)
        raise ErasureError(f"being called right now: {who}; erase after the call ends, or release the case "
                           "first; nothing erased", [c.ref for c in claimed])
    todo = [c for c in cases if c.block_kind != ERASED]
    ids = [c.id for c in todo]
    contacts = {c.case_id: c for c in session.scalars(select(Contact).where(Contact.case_id.in_(ids)))} if ids else {}
    numbers: dict[int, list[str]] = {}
    if ids:
        for case_id, e164 in session.execute(select(CasePhone.case_id, CasePhone.e164)
                                             .where(CasePhone.case_id.in_(ids)).order_by(CasePhone.position)):
            numbers.setdefault(case_id, []).append(e164)
    _check_reason(reason, contacts, numbers, {c.id: c.ref for c in todo})
    results = {c.id: Erased(c.ref, c.id, already=True) for c in cases if c.block_kind == ERASED}
    if not ids:
        return [results[c.id] for c in cases]

    before = {c.id: {"state": c.state, "block_kind": c.block_kind, "outcome": c.outcome, "aapor": c.aapor}
              for c in todo}
    # First write: hold the cases (row locks on PostgreSQL) so no claim slips in.
    held = session.execute(
        update(Case).where(Case.id.in_(ids), Case.state != "claimed").values(block_kind=ERASED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if held != len(ids):
        raise ErasureError("a case was claimed by an interviewer meanwhile; nothing erased")
    if do_not_call and numbers:
        dnc.add_numbers(session, [n for case_numbers in numbers.values() for n in case_numbers], salt=dnc_salt,
                        source=f"erasure in study {study.slug}", actor_id=actor_id)
    by_id = {c.id: c for c in todo}
    removed: dict[int, int] = {}
    answers_removed: dict[int, int] = {}
    for interview in session.scalars(select(Interview).where(Interview.case_id.in_(ids))):
        case = by_id[interview.case_id]
        contact = contacts.get(case.id)
        keys = {*_CONTACT_COLUMNS, *((contact.pii_fields or {}) if contact is not None else {})}
        removed[case.id] = _strip_sample(interview, keys - set(case.fields or {}))
        answers_removed[case.id] = _strip_personal_answers(session, interview)
    notes = dict(session.execute(select(Attempt.case_id, func.count())
                                 .where(Attempt.case_id.in_(ids), Attempt.note != "")
                                 .group_by(Attempt.case_id)).all())
    session.execute(update(Attempt).where(Attempt.case_id.in_(ids), Attempt.note != "").values(note="")
                    .execution_options(synchronize_session=False))
    corrections = dict(session.execute(
        select(AuditEvent.target, func.count()).where(AuditEvent.study_id == study.id,
                                                      AuditEvent.action == "contact.correct",
                                                      AuditEvent.target.in_([f"case:{c.ref}" for c in todo]))
        .group_by(AuditEvent.target)).all())
    changed = dict(session.execute(select(ContactChange.case_id, func.count())
                                   .where(ContactChange.case_id.in_(ids)).group_by(ContactChange.case_id)).all())
    session.execute(delete(ContactChange).where(ContactChange.case_id.in_(ids))
                    .execution_options(synchronize_session=False))
    session.execute(update(BackCheck).where(BackCheck.interview_id.in_(select(Interview.id).where(
        Interview.case_id.in_(ids))), BackCheck.note != "").values(note="")
        .execution_options(synchronize_session=False))
    session.execute(delete(CasePhone).where(CasePhone.case_id.in_(ids)).execution_options(synchronize_session=False))
    session.execute(delete(Contact).where(Contact.case_id.in_(ids)).execution_options(synchronize_session=False))
    for contact in contacts.values():
        session.expunge(contact)
    stamp = f"contact data erased {now:%Y-%m-%d}"
    # The bulk statements above bypassed the loaded objects: reload them, in one query.
    session.scalars(select(Case).where(Case.id.in_(ids)).execution_options(populate_existing=True)).all()
    for case in todo:
        has_numbers = bool(numbers.get(case.id))
        if case.state != "final":
            case.state, case.next_call_at = "blocked", None
        case.block_kind = ERASED
        case.block_reason = stamp + (" (numbers on the do-not-call list)" if do_not_call and has_numbers else "")
        case.reserved_for = case.reserved_until = None
        result = Erased(case.ref, case.id, numbers=len(numbers.get(case.id, [])), dnc=do_not_call and has_numbers,
                        notes_blanked=int(notes.get(case.id, 0)), sample_values_removed=removed.get(case.id, 0),
                        pii_answers_removed=answers_removed.get(case.id, 0),
                        changes_deleted=int(changed.get(case.id, 0)),
                        audit_events_with_contact_data=int(corrections.get(f"case:{case.ref}", 0)))
        results[case.id] = result
        event = audit.record(session, "case.erase", user_id=actor_id, study_id=study.id, target=f"case:{case.ref}",
                             details={"case_id": case.id, "reason": reason, "do_not_call": result.dnc,
                                      "numbers": result.numbers, "attempt_notes_blanked": result.notes_blanked,
                                      "sample_values_removed": result.sample_values_removed,
                                      "pii_answers_removed": result.pii_answers_removed,
                                      "contact_changes_deleted": result.changes_deleted,
                                      "had_contact": case.id in contacts, "before": before[case.id]})
        event.at = now
    if export_directory is not None:
        export_jobs.expire_contact_exports(session, export_directory, study_id=study.id)
    session.flush()
    return [results[c.id] for c in cases]
