"""Quotas against the database: the gate interviews pass at a quota checkpoint, the counters
supervisors watch, and quota-aware delivery.

Counting (see :mod:`cati.models.quota`): a cell counts its completes and its pending
interviews (passed the checkpoint, still running). An interview is admitted only if
``completes + pending < cap`` (:func:`cati.sampling.quotas.has_room`), and the check and the
reservation happen in one transaction on the locked counter row, so thirty interviewers racing
for the last five places of a hard cell get exactly five. A reservation becomes a complete when
the interview completes, is released when it ends any other way, and is suspended while the
interview is broken off or its interviewer has disappeared (stale claim); when the interview
resumes the place is taken again, or the interview ends with the quota's ``on_full`` disposition
if the cell filled meanwhile.

Delivery: cells of quotas that use only sample fields are known before the call. Cases of a full
(or fully reserved) cell are blocked (``block_kind="quota"``) and come back when the cell reopens;
with the setting ``quota_priority`` fresh cases of under-filled cells are delivered first. Both
are set-based UPDATEs over the distinct combinations of the sample fields the cells read
(:func:`refresh_holds`), run whenever a cell opens, closes or changes its priority band.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, case, func, literal, literal_column, not_, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from cati.models import (
    CallingZone,
    Case,
    Contact,
    Interview,
    QuestionnaireVersion,
    QuotaCell,
    QuotaReservation,
    Study,
)
from cati.models.meta import utcnow
from cati.questionnaires import model
from cati.questionnaires.engine import OfflineQuotaGate
from cati.questionnaires.route import FlowIndex
from cati.questionnaires.sample_fields import typed_value
from cati.questionnaires.state import State
from cati.sampling import fieldwork_settings
from cati.sampling import quotas as arithmetic
from cati.sampling.quotas import BAND_SHIFT, BAND_SPAN, PRIORITY_BANDS

from . import audit
from .questionnaires import compiled

log = logging.getLogger(__name__)

#: Signatures per UPDATE statement (each is an AND of a few equalities).
_CHUNK = 200
_TERMINAL = ("released", "rejected", "invalidated")


class QuotaError(ValueError):
    """A quota change that cannot be made; the message says why."""


# --------------------------------------------------------------------------- definitions


@lru_cache(maxsize=64)
def _flow(digest: str, source: str) -> FlowIndex:
    return FlowIndex(compiled(source, f"questionnaire {digest[:8]}"))


def _questionnaire(version: QuestionnaireVersion | None) -> model.Questionnaire | None:
    return None if version is None else compiled(version.source, f"version {version.id}")


def flow_for(version: QuestionnaireVersion) -> FlowIndex:
    return _flow(version.sha256, version.source)


@dataclass(frozen=True)
class CellSpec:
    """What a cell row should say, from the questionnaire and the study's settings."""

    quota_position: int
    position: int
    target: int | None
    mode: str
    overshoot: float
    sample_only: bool


def _spec(settings: Mapping[str, Any], quota_position: int, quota: model.Quota, position: int,
          cell: model.QuotaCell) -> CellSpec:
    overrides = (settings.get("quota_targets") or {}).get(quota.id) or {}
    target = overrides.get(cell.id, cell.target)  # an override may be None: uncapped
    mode = settings.get(f"quota.{quota.id}.mode") or quota.mode
    overshoot = settings.get(f"quota.{quota.id}.overshoot")
    return CellSpec(quota_position, position, target, mode,
                    float(quota.overshoot if overshoot is None else overshoot), quota.sample_only)


def _specs(study: Study, questionnaire: model.Questionnaire | None) -> dict[tuple[str, str], CellSpec]:
    if questionnaire is None:
        return {}
    settings = study.settings or {}
    return {(quota.id, cell.id): _spec(settings, qi, quota, ci, cell)
            for qi, quota in enumerate(questionnaire.quotas, start=1)
            for ci, cell in enumerate(quota.cells, start=1)}


def mode_problems(questionnaire: model.Questionnaire | None, values: Mapping[str, Any]) -> list[str]:
    """Problems with ``quota.<quota>.mode`` changes: a quota without ``on_full`` (defined as a
    counter) cannot become hard or soft, it would have no ending to give."""
    if questionnaire is None:
        return []
    problems = []
    for quota in questionnaire.quotas:
        mode = values.get(f"quota.{quota.id}.mode")
        if mode in ("hard", "soft") and not quota.on_full:
            problems.append(f"quota.{quota.id}.mode: the quota has no on_full disposition in the questionnaire; "
                            f"it can only count (mode counter)")
    return problems


def _insert_missing(session: Session, study_id: int, specs: Mapping[tuple[str, str], CellSpec]) -> None:
    """Create missing counter rows; safe when another transaction creates them at the same time."""
    if not specs:
        return
    existing = set(session.execute(select(QuotaCell.quota, QuotaCell.cell)
                                   .where(QuotaCell.study_id == study_id)))
    rows = [{"study_id": study_id, "quota": q, "cell": c, "quota_position": s.quota_position,
             "position": s.position, "target": s.target, "mode": s.mode, "overshoot": s.overshoot,
             "sample_only": s.sample_only, "completes": 0, "pending": 0, "updated_at": utcnow()}
            for (q, c), s in specs.items() if (q, c) not in existing]
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(QuotaCell).on_conflict_do_nothing(index_elements=["study_id", "quota", "cell"]), rows)


def _lock(session: Session, ids: Iterable[int]) -> dict[int, QuotaCell]:
    """The counter rows, locked in id order (no deadlocks between two interviews moving cells)
    and re-read: the counts another transaction committed while we waited are the ones we see."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.scalars(select(QuotaCell).where(QuotaCell.id.in_(wanted)).order_by(QuotaCell.id)
                           .with_for_update().execution_options(populate_existing=True))
    return {row.id: row for row in rows}


def _room(row: QuotaCell) -> bool:
    return arithmetic.has_room(row.mode, row.target, row.overshoot, row.completes, row.pending)


def _priority_on(study: Study) -> bool:
    return bool(fieldwork_settings.effective(study.purpose, study.settings or {}).get("quota_priority"))


def _delivery_key(row: QuotaCell, priority: bool) -> tuple[bool, int]:
    """What delivery depends on: whether the cell is open, and its priority band."""
    band = arithmetic.priority_band(row.mode, row.target, row.completes, row.pending) if priority else 0
    return _room(row), band


class _Changes:
    """Counter changes within one call; refreshes delivery once at the end if a sample-only cell
    opened, closed or changed its priority band."""

    def __init__(self, session: Session, study: Study) -> None:
        self.session, self.study = session, study
        self.priority = _priority_on(study)
        self.before: dict[int, tuple[bool, int]] = {}
        self.rows: dict[int, QuotaCell] = {}

    def watch(self, rows: Iterable[QuotaCell]) -> None:
        for row in rows:
            if row.id not in self.before:
                self.before[row.id] = _delivery_key(row, self.priority)
                self.rows[row.id] = row

    def finish(self) -> None:
        now = utcnow()
        flipped = False
        for row_id, before in self.before.items():
            row = self.rows[row_id]
            row.updated_at = now
            if row.sample_only and _delivery_key(row, self.priority) != before:
                flipped = True
        self.session.flush()
        if flipped:
            refresh_holds(self.session, self.study)


# --------------------------------------------------------------------------- the gate


class DbQuotaGate:
    """The engine's :class:`~cati.questionnaires.engine.QuotaGate` for one interview, on the
    study's counter rows."""

    def __init__(self, session: Session, study: Study, interview: Interview) -> None:
        self.session, self.study, self.interview = session, study, interview

    def _reservation(self, quota_id: str) -> QuotaReservation | None:
        return self.session.scalar(
            select(QuotaReservation).where(QuotaReservation.interview_id == self.interview.id,
                                           QuotaReservation.quota == quota_id)
            .execution_options(populate_existing=True))

    def _row_id(self, quota: model.Quota, cell: model.QuotaCell) -> int:
        session, study = self.session, self.study
        query = select(QuotaCell.id).where(QuotaCell.study_id == study.id, QuotaCell.quota == quota.id,
                                           QuotaCell.cell == cell.id)
        row_id = session.scalar(query)
        if row_id is None:
            specs = _specs(study, _questionnaire(study.current_version))
            if (quota.id, cell.id) not in specs:  # a cell only this interview's version has
                position = next(i for i, c in enumerate(quota.cells, start=1) if c.id == cell.id)
                specs[(quota.id, cell.id)] = _spec(study.settings or {}, 99, quota, position, cell)
            _insert_missing(session, study.id, specs)
            row_id = session.scalar(query)
        assert row_id is not None
        return row_id

    def assign(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool:
        session = self.session
        reservation = self._reservation(quota.id)
        new_id = self._row_id(quota, cell) if cell is not None else None
        if reservation is not None and (reservation.status == "complete" or (
                reservation.cell_id == new_id and reservation.status == "pending")):
            return True  # passed again in the same cell (or already counted): nothing changes
        rows = _lock(session, [i for i in (new_id, reservation.cell_id if reservation else None) if i])
        changes = _Changes(session, self.study)
        changes.watch(rows.values())
        now = utcnow()
        if reservation is not None and reservation.status == "pending":
            rows[reservation.cell_id].pending -= 1
        if new_id is None:
            if reservation is not None and reservation.status in ("pending", "suspended"):
                reservation.status, reservation.updated_at = "released", now
            changes.finish()
            return True  # no cell matches: admitted, not counted in this quota
        row = rows[new_id]
        if not _room(row) and row.pending:
            release_stale(session, [new_id])  # first free the places of vanished interviewers
        admitted = _room(row)
        if admitted:
            row.pending += 1
        status = "pending" if admitted else "rejected"
        if reservation is None:
            session.add(QuotaReservation(study_id=self.study.id, interview_id=self.interview.id, quota=quota.id,
                                         cell_id=new_id, status=status, created_at=now, updated_at=now))
        else:
            reservation.cell_id, reservation.status, reservation.updated_at = new_id, status, now
        changes.finish()
        return admitted

    def is_open(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool:
        if cell is None:
            return True
        row = self.session.scalar(
            select(QuotaCell).where(QuotaCell.study_id == self.study.id, QuotaCell.quota == quota.id,
                                    QuotaCell.cell == cell.id).execution_options(populate_existing=True))
        if row is None:
            specs = _specs(self.study, _questionnaire(self.study.current_version))
            spec = specs.get((quota.id, cell.id)) or _spec(self.study.settings or {}, 0, quota, 0, cell)
            return arithmetic.has_room(spec.mode, spec.target, spec.overshoot, 0, 0)
        reservation = self._reservation(quota.id)
        if reservation is not None and reservation.cell_id == row.id and reservation.status in ("pending", "complete"):
            return True  # this respondent holds a place there
        return _room(row)


def gate_for(session: Session, study: Study, interview: Interview) -> Any:
    """The quota gate for an engine call on ``interview``; test interviews count nowhere."""
    if interview.is_test:
        return OfflineQuotaGate()
    return DbQuotaGate(session, study, interview)


# --------------------------------------------------------------------------- interview hooks


def _reservations(session: Session, interview: Interview, statuses: Sequence[str]) -> list[QuotaReservation]:
    return list(session.scalars(
        select(QuotaReservation).where(QuotaReservation.interview_id == interview.id,
                                       QuotaReservation.status.in_(statuses))
        .order_by(QuotaReservation.cell_id).execution_options(populate_existing=True)))


def on_interview_end(session: Session, interview: Interview) -> None:
    """An interview ended (complete or not): its reservations become counts or are released.

    A complete counts in every cell whose checkpoint is on its final route; a checkpoint a changed
    answer took off the route releases its place. A complete whose place had been suspended (it
    resumed without passing the gate again) still counts: answers are never thrown away, and the
    overshoot is audited.
    """
    reservations = _reservations(session, interview, ("pending", "suspended"))
    if not reservations:
        return
    study = session.get(Study, interview.study_id)
    on_route = State.from_dict(interview.state).on_route if interview.state else set()
    rows = _lock(session, [r.cell_id for r in reservations])
    changes = _Changes(session, study)
    changes.watch(rows.values())
    now = utcnow()
    for reservation in reservations:
        row = rows[reservation.cell_id]
        was_pending = reservation.status == "pending"
        if was_pending:
            row.pending -= 1
        if interview.status == "complete" and f"quota_{reservation.quota}" in on_route:
            if not was_pending and not _room(row):
                audit.record(session, "quota.overshoot", study_id=study.id, target=f"interview:{interview.id}",
                             details={"quota": row.quota, "cell": row.cell, "target": row.target,
                                      "completes": row.completes})
            row.completes += 1
            reservation.status = "complete"
        else:
            reservation.status = "released"
        reservation.updated_at = now
    changes.finish()


def on_interview_pause(session: Session, interview: Interview) -> None:
    """An interview was broken off: its pending reservations are released until it resumes."""
    _suspend(session, interview, _reservations(session, interview, ("pending",)))


def _suspend(session: Session, interview: Interview, reservations: list[QuotaReservation]) -> None:
    if not reservations:
        return
    rows = _lock(session, [r.cell_id for r in reservations])
    changes = _Changes(session, session.get(Study, interview.study_id))
    changes.watch(rows.values())
    now = utcnow()
    for reservation in reservations:
        rows[reservation.cell_id].pending -= 1
        reservation.status, reservation.updated_at = "suspended", now
    changes.finish()


def on_interview_resume(session: Session, interview: Interview) -> str | None:
    """An interview continues after a break-off or a lost interviewer: take its places again.

    Returns None when every place was retaken, else the id of the first quota whose cell filled
    in the meantime: the interview must then end with that quota's ``on_full`` disposition (its
    other suspended places are released).
    """
    reservations = _reservations(session, interview, ("suspended",))
    if not reservations:
        return None
    study = session.get(Study, interview.study_id)
    rows = _lock(session, [r.cell_id for r in reservations])
    changes = _Changes(session, study)
    changes.watch(rows.values())
    now = utcnow()
    full: str | None = None
    for reservation in sorted(reservations, key=lambda r: (rows[r.cell_id].quota_position, r.id)):
        row = rows[reservation.cell_id]
        if _room(row):
            row.pending += 1
            reservation.status, reservation.updated_at = "pending", now
        else:
            reservation.status, reservation.updated_at, full = "rejected", now, reservation.quota
            break  # the interview ends; ending it releases whatever it still holds
    changes.finish()
    return full


def release_stale(session: Session, cell_ids: Sequence[int] | None = None) -> int:
    """Suspend the places of interviews whose interviewer has disappeared: the interview is still
    active but its case is no longer claimed (the scheduler released the stale claim, or an
    outcome was recorded without ending the interview). Returns how many places were freed; they
    are retaken if the interview resumes.

    Called by the scheduler whenever it looks for stale claims, and by the gate before it turns an
    interview away from a cell that still has pending places (``cell_ids``)."""
    query = (select(QuotaReservation)
             .join(Interview, Interview.id == QuotaReservation.interview_id)
             .join(Case, Case.id == Interview.case_id)
             .where(QuotaReservation.status == "pending", Interview.status == "active", Case.state != "claimed")
             .order_by(QuotaReservation.cell_id).execution_options(populate_existing=True))
    if cell_ids is None:  # per study: the (study_id, status) index finds the few pending places
        query = query.where(QuotaReservation.study_id.in_(select(Study.id)))
    else:
        query = query.where(QuotaReservation.cell_id.in_(list(cell_ids)))
    stale = list(session.scalars(query))
    by_interview: dict[int, list[QuotaReservation]] = defaultdict(list)
    for reservation in stale:
        by_interview[reservation.interview_id].append(reservation)
    for interview_id, reservations in by_interview.items():
        interview = session.get(Interview, interview_id)
        assert interview is not None
        _suspend(session, interview, reservations)
        audit.record(session, "quota.release_stale", study_id=interview.study_id, target=f"interview:{interview_id}",
                     details={"quotas": [r.quota for r in reservations]})
    return len(stale)


def invalidate_interview(session: Session, interview: Interview, actor_id: int | None = None,
                         reason: str = "") -> None:
    """A supervisor invalidated a completed interview (failed back-check): it leaves its cells,
    which may reopen (and give their held cases back to delivery)."""
    if interview.status != "complete":
        raise QuotaError(f"interview {interview.id} is {interview.status}; only completed interviews are invalidated")
    reservations = _reservations(session, interview, ("complete", "pending", "suspended"))
    study = session.get(Study, interview.study_id)
    rows = _lock(session, [r.cell_id for r in reservations])
    changes = _Changes(session, study)
    changes.watch(rows.values())
    now = utcnow()
    left = []
    for reservation in reservations:
        row = rows[reservation.cell_id]
        if reservation.status == "complete":
            row.completes -= 1
            left.append(f"{row.quota}.{row.cell}")
        elif reservation.status == "pending":
            row.pending -= 1
        reservation.status, reservation.updated_at = "invalidated", now
    interview.status = "invalidated"
    interview.updated_at = now
    audit.record(session, "interview.invalidate", user_id=actor_id, study_id=study.id,
                 target=f"interview:{interview.id}", details={"cells": left, "reason": reason})
    changes.finish()


def recount(session: Session, study: Study) -> list[tuple[str, str, int, int, int, int]]:
    """Recompute every counter of the study from its reservations (a repair tool, and the tests'
    proof that nothing is counted twice). Returns (quota, cell, completes before, after, pending
    before, after) for the rows that differed."""
    counts: dict[tuple[int, str], int] = {
        (cell_id, status): n for cell_id, status, n in session.execute(
            select(QuotaReservation.cell_id, QuotaReservation.status, func.count())
            .where(QuotaReservation.study_id == study.id)
            .group_by(QuotaReservation.cell_id, QuotaReservation.status))}
    rows = _lock(session, session.scalars(select(QuotaCell.id).where(QuotaCell.study_id == study.id)))
    changes = _Changes(session, study)
    changes.watch(rows.values())
    differences = []
    for row in rows.values():
        completes, pending = counts.get((row.id, "complete"), 0), counts.get((row.id, "pending"), 0)
        if (completes, pending) != (row.completes, row.pending):
            differences.append((row.quota, row.cell, row.completes, completes, row.pending, pending))
            row.completes, row.pending = completes, pending
    changes.finish()
    return differences


# --------------------------------------------------------------------------- targets and modes


def sync_cells(session: Session, study: Study, actor_id: int | None = None, *,
               record: bool = True) -> list[dict[str, Any]]:
    """Bring the counter rows in line with the current questionnaire and the study's settings
    (targets, modes) after they changed; audit what changed and refresh delivery. Called by
    :func:`cati.services.studies.update_settings` for ``quota.*`` keys, ``quota_priority`` and
    ``status``, and after a new questionnaire version. Returns the changes (audited as
    ``quota.change`` unless ``record`` is False: the caller audits them with its own event)."""
    specs = _specs(study, _questionnaire(study.current_version))
    _insert_missing(session, study.id, specs)
    rows = _lock(session, session.scalars(select(QuotaCell.id).where(QuotaCell.study_id == study.id)))
    changed = []
    for row in rows.values():
        spec = specs.get((row.quota, row.cell))
        if spec is None:
            continue  # a cell the current questionnaire dropped: its counts stay for the record
        before = {"target": row.target, "mode": row.mode, "overshoot": row.overshoot}
        after = {"target": spec.target, "mode": spec.mode, "overshoot": spec.overshoot}
        row.quota_position, row.position, row.sample_only = spec.quota_position, spec.position, spec.sample_only
        if before != after:
            row.target, row.mode, row.overshoot = spec.target, spec.mode, spec.overshoot
            row.updated_at = utcnow()
            changed.append({"quota": row.quota, "cell": row.cell, "before": before, "after": after})
    if changed and record:
        audit.record(session, "quota.change", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                     details={"cells": changed})
    session.flush()
    refresh_holds(session, study)
    return changed


def set_target(session: Session, study: Study, quota: str, cell: str, target: int | None,
               actor_id: int | None = None) -> None:
    """Change one cell's target (None: count without a cap), as ``cati study set SLUG
    quota.<quota>.<cell>=N`` does; raises StudyError naming the problem."""
    from .studies import update_settings

    update_settings(session, study, {f"quota.{quota}.{cell}": "null" if target is None else str(target)},
                    actor_id=actor_id)


def set_mode(session: Session, study: Study, quota: str, mode: str, overshoot: float | None = None,
             actor_id: int | None = None) -> None:
    """Change a quota's mode (hard, soft, counter) and, for soft, the share it may overshoot."""
    from .studies import update_settings

    changes = {f"quota.{quota}.mode": mode}
    if overshoot is not None:
        changes[f"quota.{quota}.overshoot"] = str(overshoot)
    update_settings(session, study, changes, actor_id=actor_id)


# --------------------------------------------------------------------------- delivery


_STANDARD = ("state", "language", "person_type", "customer", "name", "postcode")


@dataclass(frozen=True)
class _Dimension:
    """One sample field a sample-only cell reads, and where a case keeps it."""

    spec: model.SampleField
    uses_contact: bool
    standard: str | None  # the standard column preload falls back to

    def columns(self, cases: Any, contacts: Any) -> list[ColumnElement[Any]]:
        name = self.spec.name
        source = contacts.pii_fields if self.spec.pii else cases.fields
        columns: list[ColumnElement[Any]] = [source[name].as_string()]
        if self.standard is not None:
            columns.append({"state": cases.zone_id, "language": cases.language, "person_type": cases.person_type,
                            "customer": cases.customer, "name": contacts.name,
                            "postcode": contacts.postcode}[self.standard])
        return columns

    def value(self, raw: Sequence[Any], regions: Mapping[int, str]) -> Any:
        """The value preload would give the interview (None: left out)."""
        primary = raw[0]
        if primary is None or primary == "":
            if self.standard is None:
                return None
            primary = raw[1]
            if self.standard == "state":
                primary = regions.get(primary) or None
            elif self.standard == "customer":
                primary = "yes" if primary else "no"
            if primary is None or primary == "":
                return None
        try:
            return typed_value(self.spec, primary)
        except ValueError:
            return None


def _dimensions(questionnaire: model.Questionnaire, quotas: Sequence[model.Quota]) -> list[_Dimension] | None:
    names = sorted({name for quota in quotas for cell in quota.cells for name in cell.condition.names})
    specs = {f.name: f for f in questionnaire.sample}
    dimensions = []
    for name in names:
        spec = specs.get(name)
        if spec is None:
            log.warning("quota cells read %r, which is not a sample field: no delivery holds", name)
            return None
        standard = name if name in _STANDARD else None
        dimensions.append(_Dimension(spec, spec.pii or standard in ("name", "postcode"), standard))
    return dimensions


@dataclass
class _Signature:
    """One combination of sample values, the cases that have it, and the cells it falls in."""

    raw: tuple[Any, ...]
    cells: dict[str, str] = field(default_factory=dict)  # quota id -> cell id
    cases: int = 0
    attempts: int = 0
    ready: int = 0
    held: int = 0
    #: fresh cases (ready or held) per priority band, so unchanged combinations are not rewritten
    bands: tuple[int, ...] = ()


class _SampleCells:
    """The study's cases grouped by the sample values that decide their cells."""

    def __init__(self, session: Session, study: Study, questionnaire: model.Questionnaire,
                 quotas: Sequence[model.Quota], dimensions: list[_Dimension]) -> None:
        self.session, self.study, self.quotas, self.dimensions = session, study, quotas, dimensions
        self.flow = flow_for(study.current_version)
        self.uses_contact = any(d.uses_contact for d in dimensions)

    def _columns(self, cases: Any, contacts: Any) -> list[ColumnElement[Any]]:
        return [c for d in self.dimensions for c in d.columns(cases, contacts)]

    def signatures(self, states: Sequence[str] | None = None) -> list[_Signature]:
        columns = self._columns(Case, Contact)
        held = case((and_(Case.state == "blocked", Case.block_kind == "quota"), 1), else_=0)
        fresh = and_(Case.tier == 2, Case.state.in_(("ready", "blocked")))
        bands = [func.sum(case((and_(fresh, _band_range(b)), 1), else_=0)) for b in range(PRIORITY_BANDS + 1)]
        query = (select(*columns, func.count(), func.coalesce(func.sum(Case.attempts), 0),
                        func.sum(case((Case.state == "ready", 1), else_=0)), func.sum(held), *bands)
                 .select_from(Case).where(Case.study_id == self.study.id)
                 # by position: PostgreSQL would not match the JSON keys' bound parameters
                 .group_by(*(literal_column(str(i)) for i in range(1, len(columns) + 1))))
        if self.uses_contact:
            query = query.outerjoin(Contact, Contact.case_id == Case.id)
        if states is not None:
            query = query.where(Case.state.in_(states))
        rows = self.session.execute(query).all()
        width = len(columns)
        regions = dict(self.session.execute(select(CallingZone.id, CallingZone.region)).all()) \
            if any(d.standard == "state" for d in self.dimensions) else {}
        today = dt.date.today()
        signatures = []
        for row in rows:
            raw = tuple(row[:width])
            signature = _Signature(raw, cases=row[width], attempts=int(row[width + 1] or 0),
                                   ready=int(row[width + 2] or 0), held=int(row[width + 3] or 0),
                                   bands=tuple(int(n or 0) for n in row[width + 4:]))
            values: dict[str, Any] = {}
            at = 0
            for dimension in self.dimensions:
                n = 2 if dimension.standard is not None else 1
                value = dimension.value(raw[at:at + n], regions)
                at += n
                if value is not None:
                    values[dimension.spec.name] = value
            for quota in self.quotas:
                found = arithmetic.sample_cell(self.flow, quota, values, today)
                if found is not None:
                    signature.cells[quota.id] = found[1].id
            signatures.append(signature)
        return signatures

    def match(self, signatures: Sequence[_Signature]) -> ColumnElement[bool]:
        """A WHERE condition on ``cases`` selecting the cases with one of these signatures."""
        inner_case, inner_contact = (aliased(Case), aliased(Contact)) if self.uses_contact else (Case, Contact)
        columns = self._columns(inner_case, inner_contact)
        alternatives = [and_(*(column.is_(None) if value is None else column == literal(value)
                               for column, value in zip(columns, s.raw, strict=True))) for s in signatures]
        condition = or_(*alternatives)
        if not self.uses_contact:
            return condition
        return Case.id.in_(select(inner_case.id).select_from(inner_case)
                           .outerjoin(inner_contact, inner_contact.case_id == inner_case.id)
                           .where(inner_case.study_id == self.study.id, condition))


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _band_range(band: int) -> ColumnElement[bool]:
    if band == 0:
        return Case.order_key >= 0
    return and_(Case.order_key >= -band * BAND_SPAN, Case.order_key < -(band - 1) * BAND_SPAN)


def _rebanded(band: int) -> ColumnElement[Any]:
    """SQL for :func:`cati.sampling.quotas.banded_key` on ``cases.order_key``."""
    key = Case.order_key
    compact = case(
        (key >= 0, key.op("/")(literal(1 << BAND_SHIFT))),
        *((key >= -b * BAND_SPAN, key + b * BAND_SPAN) for b in range(1, PRIORITY_BANDS)),
        else_=key + PRIORITY_BANDS * BAND_SPAN,
    )
    return compact.op("*")(literal(1 << BAND_SHIFT)) if band == 0 else compact - band * BAND_SPAN


@dataclass(frozen=True)
class HoldReport:
    held: int = 0  # cases newly held back (full cell)
    released: int = 0  # cases given back to delivery (cell reopened)
    reprioritised: int = 0  # fresh cases moved to another priority band


def _update(session: Session, where: Sequence[Any], values: Mapping[str, Any]) -> int:
    return session.execute(update(Case).where(*where).values(**values)
                           .execution_options(synchronize_session=False)).rowcount or 0


def delivery_quotas(questionnaire: model.Questionnaire | None) -> list[model.Quota]:
    """The quotas that steer delivery: sample-only ones with cells, known before the call."""
    return [q for q in questionnaire.quotas if q.sample_only and q.cells] if questionnaire else []


def refresh_holds(session: Session, study: Study) -> HoldReport:
    """Hold back the cases whose sample fields put them in a closed cell and give back those whose
    cells reopened; with ``quota_priority``, order fresh cases by how far their cells are from
    target. Set-based: one grouped read of the study's open cases, then a few UPDATEs."""
    questionnaire = _questionnaire(study.current_version)
    quotas = delivery_quotas(questionnaire)
    dimensions = _dimensions(questionnaire, quotas) if questionnaire and quotas else None
    mine = (Case.study_id == study.id,)
    if not quotas or dimensions is None:
        return _release_all(session, study)
    rows = {(r.quota, r.cell): r for r in session.scalars(
        select(QuotaCell).where(QuotaCell.study_id == study.id).execution_options(populate_existing=True))}
    specs = _specs(study, questionnaire)
    priority = _priority_on(study)
    closed: set[tuple[str, str]] = set()
    bands: dict[tuple[str, str], int] = {}
    for quota in quotas:
        for cell in quota.cells:
            row = rows.get((quota.id, cell.id))
            spec = specs[(quota.id, cell.id)]
            mode, target, overshoot = (row.mode, row.target, row.overshoot) if row else (spec.mode, spec.target,
                                                                                          spec.overshoot)
            completes, pending = (row.completes, row.pending) if row else (0, 0)
            if not arithmetic.has_room(mode, target, overshoot, completes, pending):
                closed.add((quota.id, cell.id))
            elif priority:
                bands[(quota.id, cell.id)] = arithmetic.priority_band(mode, target, completes, pending)
    if not closed and not any(bands.values()):
        return _release_all(session, study)

    cells = _SampleCells(session, study, questionnaire, quotas, dimensions)
    by_reason: dict[str, list[_Signature]] = defaultdict(list)
    open_signatures: list[_Signature] = []
    by_band: dict[int, list[_Signature]] = defaultdict(list)
    for signature in cells.signatures(("ready", "blocked")):
        full = [f"{q}.{c}" for q, c in signature.cells.items() if (q, c) in closed]
        if full:
            by_reason["quota cell full: " + ", ".join(full)].append(signature)
        else:
            open_signatures.append(signature)
            by_band[max((bands.get((q, c), 0) for q, c in signature.cells.items()), default=0)].append(signature)
    # Each UPDATE is guarded (only rows that change) and skipped when the counts read above say
    # no row of these combinations would change.
    held = released = reprioritised = 0
    for reason, signatures in by_reason.items():
        for chunk in _chunks([s for s in signatures if s.ready]):
            held += _update(session, (*mine, Case.state == "ready", cells.match(chunk)),
                            {"state": "blocked", "block_kind": "quota", "block_reason": reason[:300]})
        for chunk in _chunks([s for s in signatures if s.held]):
            _update(session, (*mine, Case.state == "blocked", Case.block_kind == "quota",
                              Case.block_reason != reason[:300], cells.match(chunk)), {"block_reason": reason[:300]})
    for chunk in _chunks([s for s in open_signatures if s.held]):
        released += _update(session, (*mine, Case.state == "blocked", Case.block_kind == "quota", cells.match(chunk)),
                            {"state": "ready", "block_kind": "", "block_reason": ""})
    for band, signatures in by_band.items():
        for chunk in _chunks([s for s in signatures if sum(s.bands) != s.bands[band]]):
            reprioritised += _update(session, (*mine, Case.tier == 2, Case.state.in_(("ready", "blocked")),
                                               not_(_band_range(band)), cells.match(chunk)),
                                     {"order_key": _rebanded(band)})
    return _finish_holds(session, study, HoldReport(held, released, reprioritised))


def _release_all(session: Session, study: Study) -> HoldReport:
    """No cell is closed or prioritised: every held case goes back, every fresh case to band 0."""
    mine = (Case.study_id == study.id,)
    released = _update(session, (*mine, Case.state == "blocked", Case.block_kind == "quota"),
                       {"state": "ready", "block_kind": "", "block_reason": ""})
    reprioritised = 0
    if "quota_priority" in (study.settings or {}):  # bands exist only where priority was ever on
        reprioritised = _update(session, (*mine, Case.state.in_(("ready", "blocked")), Case.tier == 2,
                                          Case.order_key < 0), {"order_key": _rebanded(0)})
    return _finish_holds(session, study, HoldReport(0, released, reprioritised))


def _finish_holds(session: Session, study: Study, report: HoldReport) -> HoldReport:
    if report.released:
        # Cases held while the study's legal basis changed come back only if they may be called.
        settings = fieldwork_settings.effective(study.purpose, study.settings or {})
        if settings.get("legal_basis") == "consent":
            from .studies import refresh_legal_blocks

            refresh_legal_blocks(session, study, "consent")
    if report.held or report.released:
        audit.record(session, "quota.holds", study_id=study.id, target=f"study:{study.slug}",
                     details={"held": report.held, "released": report.released})
    return report


# --------------------------------------------------------------------------- supervisors


@dataclass(frozen=True)
class CellStatus:
    quota: str
    cell: str
    position: int
    target: int | None
    mode: str
    cap: int | None  # completes + pending at which the cell closes (soft: target + overshoot)
    completes: int
    pending: int
    remaining: int | None
    open: bool
    rejected: int  # interviews turned away at the checkpoint (or on resume) because it was full
    attempts: int  # call attempts on the cases counted in this cell
    attempts_per_complete: float | None
    band: int  # delivery priority band (0 without quota_priority)
    sample_only: bool
    cases_ready: int | None = None  # sample-only cells: cases waiting for delivery
    cases_held: int | None = None  # sample-only cells: cases held back because the cell is full

    @property
    def share(self) -> float | None:
        """Completes as a share of the target (for the bar), capped at 1."""
        if not self.target:
            return None
        return min(self.completes / self.target, 1.0)


@dataclass(frozen=True)
class QuotaStatus:
    id: str
    mode: str
    overshoot: float
    on_full: str
    sample_only: bool
    cells: list[CellStatus]

    @property
    def completes(self) -> int:
        return sum(c.completes for c in self.cells)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.cells)


def cell_status(session: Session, study: Study) -> list[QuotaStatus]:
    """Every quota of the study's current questionnaire with every cell: target, completes,
    pending, remaining, rejected, attempts per complete, delivery state. Reads only."""
    questionnaire = _questionnaire(study.current_version)
    if questionnaire is None:
        return []
    specs = _specs(study, questionnaire)
    rows = {(r.quota, r.cell): r for r in session.scalars(
        select(QuotaCell).where(QuotaCell.study_id == study.id).execution_options(populate_existing=True))}
    by_status: dict[tuple[int, str], int] = {
        (cell_id, status): n for cell_id, status, n in session.execute(
            select(QuotaReservation.cell_id, QuotaReservation.status, func.count())
            .where(QuotaReservation.study_id == study.id)
            .group_by(QuotaReservation.cell_id, QuotaReservation.status))}
    attempts_by_cell: dict[int, int] = dict(session.execute(
        select(QuotaReservation.cell_id, func.coalesce(func.sum(Case.attempts), 0))
        .join(Interview, Interview.id == QuotaReservation.interview_id)
        .join(Case, Case.id == Interview.case_id)
        .where(QuotaReservation.study_id == study.id)
        .group_by(QuotaReservation.cell_id)).all())
    sample_quotas = delivery_quotas(questionnaire)
    sample_stats: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    dimensions = _dimensions(questionnaire, sample_quotas) if sample_quotas else None
    if dimensions is not None:
        for signature in _SampleCells(session, study, questionnaire, sample_quotas, dimensions).signatures():
            for q, c in signature.cells.items():
                stats = sample_stats[(q, c)]
                stats[0] += signature.attempts
                stats[1] += signature.ready
                stats[2] += signature.held
    priority = _priority_on(study)
    out = []
    for quota in questionnaire.quotas:
        cells = []
        for position, cell in enumerate(quota.cells, start=1):
            spec = specs[(quota.id, cell.id)]
            row = rows.get((quota.id, cell.id))
            target, mode, overshoot = (row.target, row.mode, row.overshoot) if row else (spec.target, spec.mode,
                                                                                          spec.overshoot)
            completes, pending = (row.completes, row.pending) if row else (0, 0)
            rejected = by_status.get((row.id, "rejected"), 0) if row else 0
            if quota.sample_only and dimensions is not None:
                attempts, ready, held = sample_stats[(quota.id, cell.id)]
            else:
                attempts, ready, held = (attempts_by_cell.get(row.id, 0) if row else 0), None, None
            cells.append(CellStatus(
                quota=quota.id, cell=cell.id, position=position, target=target, mode=mode,
                cap=arithmetic.cap(mode, target, overshoot), completes=completes, pending=pending,
                remaining=arithmetic.remaining(target, completes),
                open=arithmetic.has_room(mode, target, overshoot, completes, pending), rejected=rejected,
                attempts=attempts, attempts_per_complete=round(attempts / completes, 2) if completes else None,
                band=arithmetic.priority_band(mode, target, completes, pending) if priority and quota.sample_only
                else 0,
                sample_only=quota.sample_only, cases_ready=ready, cases_held=held))
        first = specs[(quota.id, quota.cells[0].id)] if quota.cells else None
        out.append(QuotaStatus(id=quota.id, mode=cells[0].mode if cells else quota.mode,
                               overshoot=first.overshoot if first else quota.overshoot, on_full=quota.on_full,
                               sample_only=quota.sample_only, cells=cells))
    return out
