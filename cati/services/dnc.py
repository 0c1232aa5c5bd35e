"""The global do-not-call list: numbers that are never delivered, in any study.

Numbers are kept as salted SHA-256 hashes (setting ``cati.dnc_salt``), so the block outlives the
erasure of the contact without the list itself being a list of phone numbers.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cati.models import Case, CasePhone, DoNotCall
from cati.sampling.calling_rules import DNC_REASON

from . import audit


def number_hash(e164: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{e164}".encode()).hexdigest()




def add_numbers(session: Session, numbers: list[str], *, salt: str, source: str = "",
                actor_id: int | None = None) -> tuple[int, int]:
    """Add E.164 numbers; block every case in every study that has one of them.

    Returns (numbers added, cases blocked). Numbers already on the list are left as they are.
    """
    wanted = {number_hash(n, salt): n for n in numbers}
    known = set(session.scalars(select(DoNotCall.number_hash).where(DoNotCall.number_hash.in_(list(wanted)))))
    added = [h for h in wanted if h not in known]
    if added:
        session.execute(DoNotCall.__table__.insert(),
                        [{"number_hash": h, "source": source[:200], "added_by": actor_id} for h in added])
    case_ids = select(CasePhone.case_id).where(CasePhone.e164.in_(list(wanted.values())))
    blocked = session.execute(
        update(Case)
        .where(Case.id.in_(case_ids), Case.state.in_(("ready", "blocked")), Case.block_kind != "dnc")
        .values(state="blocked", block_kind="dnc", block_reason=DNC_REASON)
        .execution_options(synchronize_session=False)
    ).rowcount
    # A case being called stays with its interviewer, marked: however its claim ends (an outcome, or
    # the release of a claim whose interviewer vanished), the mark blocks it then.
    session.execute(
        update(Case)
        .where(Case.id.in_(case_ids), Case.state == "claimed", Case.block_kind != "dnc")
        .values(block_kind="dnc", block_reason=DNC_REASON)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, "dnc.add", user_id=actor_id, target="dnc",
                 details={"added": len(added), "cases_blocked": blocked, "source": source})
    return len(added), blocked


def is_blocked(session: Session, e164: str, *, salt: str) -> bool:
    return session.get(DoNotCall, number_hash(e164, salt)) is not None
