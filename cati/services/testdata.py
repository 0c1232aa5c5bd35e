"""Test interviews: random respondents run through the real engine into a study, flagged as test data.

``cati testdata SLUG --count N [--seed S]``: before fieldwork, researchers fill a study with
random interviews to check the routing, the topline and the exports with real files. Each one
drives :class:`~cati.questionnaires.engine.Engine` on the study's current questionnaire version
with :class:`~cati.questionnaires.simulate.RandomRespondent`'s answers (valid answers, sometimes
don't know or refused; soft checks confirmed), exactly as the interviewer screen would, and is
stored like a real interview (engine state, export row in ``data``, status and disposition), but:

* ``is_test`` is set and there is no case (``case_id`` NULL, so no call attempts, no contact);
* quotas are not touched (the engine gets an offline gate with every cell open);
* no interviewer, and one audit event for the whole run instead of one per answer.

Exports leave test interviews out unless asked (``--include ...,test``); the field progress,
topline, dashboards and back-checks never count them. The seed makes a run reproducible (the
answers, not the respondent ids); without one a random seed is drawn and reported.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from cati.models import Interview, Study
from cati.models.meta import utcnow
from cati.questionnaires.engine import Ended, Engine, OfflineQuotaGate
from cati.questionnaires.simulate import RandomRespondent
from cati.questionnaires.state import State

from . import audit
from .interviews import engine_for

MAX_COUNT = 100_000
FLUSH_EVERY = 200


class TestdataError(ValueError):
    """The test interviews cannot be made (no questionnaire, a wrong count); nothing is stored."""

    __test__ = False  # not a pytest test class


@dataclass
class TestdataReport:
    __test__ = False

    created: int = 0
    seed: int = 0
    version: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    stuck: int = 0

    def summary(self) -> str:
        parts = ", ".join(f"{name} {n}" for name, n in sorted(self.dispositions.items()))
        stuck = f"; {self.stuck} stuck (no valid random answer found), stored as break-offs" if self.stuck else ""
        return (f"{self.created} test interviews on questionnaire version {self.version} (seed {self.seed}): "
                f"{parts or 'none'}{stuck}")


def _ask(engine: Engine, state: State, respondent: RandomRespondent, gate: OfflineQuotaGate,
         clock: Callable[[], dt.datetime]) -> bool:
    """Answer screens at random until the interview ends (True) or no valid answer is found."""
    budget = 40 * (len(engine.flow.nodes) + 10)
    while budget > 0:
        budget -= 1
        screen = engine.screen(state)
        if isinstance(screen, Ended):
            return True
        if screen.type == "info":
            engine.forward(state, now=clock(), gate=gate)
            continue
        confirm = range(len(engine.flow.questions[screen.node_id].checks))
        for attempt in range(60):
            value = respondent.valid(screen)
            if attempt > 40 and screen.specials:
                special = screen.specials[0].name
                value = {row.code: special for row in screen.rows} if screen.type == "grid" else special
            result = engine.answer(state, screen.key, value, others=respondent.others(screen, value),
                                   confirm_soft=confirm, now=clock(), gate=gate)
            if result.accepted:
                break
        else:
            return False
    return False


def _flush(session: Session, batch: list[Interview]) -> None:
    """Write a batch and forget it: 100,000 engine states need not stay in the session."""
    session.flush()
    for interview in batch:
        session.expunge(interview)
    batch.clear()


def generate(session: Session, study: Study, count: int, seed: int | None = None, *, actor_id: int | None = None,
             now: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> TestdataReport:
    """Store ``count`` random test interviews in ``study`` (inside the caller's transaction)."""
    if not 1 <= count <= MAX_COUNT:
        raise TestdataError(f"--count must be between 1 and {MAX_COUNT:,}, not {count}")
    version = study.current_version
    if version is None:
        raise TestdataError(f"study {study.slug!r} has no questionnaire yet")
    engine = engine_for(version)
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    rng = random.Random(seed)
    respondent = RandomRespondent(engine, rng)
    report = TestdataReport(seed=seed, version=version.version)
    base = (now or utcnow()).replace(microsecond=0)
    batch: list[Interview] = []
    for n in range(count):
        moment = base - dt.timedelta(minutes=30)

        def clock() -> dt.datetime:
            nonlocal moment
            moment += dt.timedelta(seconds=rng.randint(3, 25))
            return moment

        started = clock()
        gate = OfflineQuotaGate()
        state = engine.start(rng.randrange(2**31), respondent.sample(), None, "Test", now=started, gate=gate)
        ended = _ask(engine, state, respondent, gate, clock)
        interview = Interview(study_id=study.id, case_id=None, version_id=version.id, resp_id=uuid.uuid4().hex,
                              lang=state.lang, interviewer_id=None, started_at=started, updated_at=moment,
                              state=state.to_dict(), is_test=True)
        screen = engine.screen(state) if ended else None
        if isinstance(screen, Ended):
            disposition = engine.questionnaire.dispositions[screen.disposition]
            interview.status = "complete" if screen.status == "complete" else "ended"
            interview.disposition, interview.disposition_code = disposition.name, disposition.code
            interview.ended_at = moment
            interview.data = engine.export_row(state, {"resp_id": interview.resp_id, "interviewer_id": None})
            report.dispositions[disposition.name] += 1
        else:
            interview.status = "broken_off"
            report.stuck += 1
        session.add(interview)
        batch.append(interview)
        report.created += 1
        if len(batch) >= FLUSH_EVERY:
            _flush(session, batch)
        if progress is not None:
            progress(n + 1)
    _flush(session, batch)
    details: dict[str, Any] = {"count": report.created, "seed": seed, "version": version.version,
                               "dispositions": dict(sorted(report.dispositions.items())), "stuck": report.stuck}
    audit.record(session, "study.testdata", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details=details)
    return report
