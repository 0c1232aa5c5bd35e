"""The dispositions report for the client: one row per case with its reference, attempts, last
outcome, current disposition (outcome and AAPOR code) and the pseudonymous code of the interviewer
of the last call. No contact data: the reference is the only way back to a person, and it is the
client's own. The client's data file carries each interview's start and end time and interviewer
code; joined with this report on them, it would put the client's own customer numbers on the
answers (professional anonymity, see domain notes). So the report has no time of the call, and its
interviewer is a pseudonym of this report alone (the same within the report, a new one in the next),
never the code the data file has.

Rows are read in reference order in batches through the unique index (study_id, ref) - keyset
pagination, constant memory - and written straight into a file (CSV or XLSX with openpyxl's
write-only mode), so a study of a million cases never sits in memory. Each download is recorded in
the audit trail.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.orm import Session

from cati.models import Attempt, AuditEvent, Case, CaseTally, ContactChange, Study, User
from cati.models.meta import UTCDateTime, utcnow
from cati.sampling.aapor import RATE_NAMES, aapor_rates
from cati.sampling.dispositions import RATE_CLASSES, rate_class_for

from . import audit
from .fieldwork import eligibility_estimate

__all__ = ["COLUMNS", "FORMATS", "ReportError", "disposition_rows", "dispositions_report", "write_csv", "write_xlsx"]

COLUMNS = ("reference", "attempts", "last_outcome", "disposition", "disposition_label", "aapor", "status",
           "interviewer")
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
BATCH = 5000
#: Excel's sheet has 1,048,576 rows, one of them the header.
MAX_XLSX_ROWS = 1_048_575
#: Leading characters that make spreadsheet programs evaluate a cell (CSV/formula injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReportError(ValueError):
    """The report cannot be produced in the asked form; the message says why."""


@dataclass(frozen=True)
class DispositionRow:
    reference: str
    attempts: int
    last_outcome: str
    disposition: str
    disposition_label: str
    aapor: str
    status: str  # final / temporary
    interviewer: str

    def values(self) -> tuple[Any, ...]:
        return (self.reference, self.attempts, self.last_outcome, self.disposition, self.disposition_label,
                self.aapor, self.status, self.interviewer)


def case_count(session: Session, study: Study) -> int:
    """Cases in the report (test cases are left out), from the dashboard's tallies."""
    return int(session.scalar(select(func.coalesce(func.sum(CaseTally.n), 0))
                              .where(CaseTally.study_id == study.id, CaseTally.phase != "test")) or 0)


def disposition_rows(session: Session, study: Study, *, labels: Mapping[str, str] | None = None,
                     batch: int = BATCH) -> Iterator[DispositionRow]:
    """Every (non-test) case of the study, by reference."""
    labels = labels or {}
    key = os.urandom(16)  # this report's interviewer pseudonyms (see the module docstring)

    def pseudonym(code: str | None) -> str:
        return "I-" + hashlib.blake2b((code or "").encode(), key=key, digest_size=3).hexdigest().upper() if code else ""

    last_attempt = (select(func.max(Attempt.id)).where(Attempt.case_id == Case.id).correlate(Case)
                    .scalar_subquery())
    base = (
        select(Case.ref, Case.attempts, Case.outcome, Case.aapor, Case.state, Attempt.outcome.label("last_outcome"),
               User.code)
        .outerjoin(Attempt, Attempt.id == last_attempt)
        .outerjoin(User, User.id == Attempt.user_id)
        .where(Case.study_id == study.id, Case.is_test.is_(False))
        .order_by(Case.ref)
        .limit(batch)
    )
    after: str | None = None
    while True:
        query = base if after is None else base.where(Case.ref > after)
        rows = session.execute(query).all()
        for r in rows:
            yield DispositionRow(
                reference=r.ref, attempts=r.attempts, last_outcome=r.last_outcome or "",
                disposition=r.outcome, disposition_label=labels.get(r.outcome, "") if r.outcome else "",
                aapor=r.aapor, status="final" if r.state == "final" else "temporary", interviewer=pseudonym(r.code))
        if len(rows) < batch:
            return
        after = rows[-1].ref


def _safe_text(value: str) -> str:
    """Text a spreadsheet shows as text, never evaluates (``=HYPERLINK(...)`` in a reference)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def write_csv(rows: Iterator[DispositionRow], fh: IO[str]) -> int:
    """CSV (RFC 4180, comma, header row). Returns the rows."""
    writer = csv.writer(fh, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        values = row.values()
        writer.writerow([_safe_text(v) if isinstance(v, str) else v for v in values])
        count += 1
    return count


def write_xlsx(rows: Iterator[DispositionRow], fh: IO[bytes], *, info: Mapping[str, Any], max_rows: int = MAX_XLSX_ROWS
               ) -> int:
    """XLSX with a frozen header row and an Info sheet. Returns the rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Dispositions")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        count += 1
        if count > max_rows:
            sheet.close()  # end openpyxl's XML writer cleanly before giving up
            raise ReportError(f"more than {max_rows:,} cases do not fit into one Excel sheet; download the CSV")
        cells = []
        for value in row.values():
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the reference says
            cells.append(cell)
        sheet.append(cells)
    info_sheet = workbook.create_sheet("Info")
    for key, value in info.items():
        info_sheet.append([key, value])
    workbook.save(fh)
    return count


def rates_summary(session: Session, study: Study) -> dict[str, Any]:
    """Counts per AAPOR rate class, the outcome rates and the ``e`` they use, with its basis."""
    classes = dict.fromkeys(RATE_CLASSES, 0)
    for aapor, n in session.execute(
        select(CaseTally.aapor, func.sum(CaseTally.n))
        .where(CaseTally.study_id == study.id, CaseTally.phase != "test").group_by(CaseTally.aapor)
    ):
        try:
            classes[rate_class_for(aapor)] += int(n)
        except ValueError:
            classes["UH"] += int(n)
    estimate = eligibility_estimate(study, classes)
    rates = aapor_rates(classes, estimate.value)
    summary: dict[str, Any] = {f"cases {name}": n for name, n in classes.items()}
    summary["e"] = estimate.value
    summary["e method"] = ("set for the study: " + estimate.basis) if estimate.method == "supervisor" else (
        "proportional: (I+P+R+NC+O)/(I+P+R+NC+O+NE)")
    summary.update({name: rates[name] for name in RATE_NAMES})
    return summary


@dataclass(frozen=True)
class Report:
    file: IO[bytes]
    filename: str
    content_type: str
    rows: int


def dispositions_report(session: Session, study: Study, fmt: str, *, labels: Mapping[str, str] | None = None,
                        actor_id: int | None = None, tz: str = "Europe/Berlin",
                        now: dt.datetime | None = None, recorder: Session | None = None) -> Report:
    """Write the report into a temporary file (rewound, for streaming to the browser) and record
    the download in the audit trail, through ``recorder`` if given (the web view reads in a
    read-only transaction and records in a short one of its own), else through ``session``."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; choose csv or xlsx")
    now = now or utcnow()
    expected = case_count(session, study)
    if fmt == "xlsx" and expected > MAX_XLSX_ROWS:
        raise ReportError(f"{expected:,} cases do not fit into one Excel sheet; download the CSV")
    rows = disposition_rows(session, study, labels=labels)
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        count = write_csv(rows, text)
        text.flush()
        text.detach()
    else:
        local = now.astimezone(ZoneInfo(tz))
        info: dict[str, Any] = {"study": study.name, "slug": study.slug,
                                "generated": local.replace(tzinfo=None).isoformat(timespec="minutes"),
                                "time zone": tz, "cases": expected}
        info.update(rates_summary(session, study))
        count = write_xlsx(rows, out, info=info)
    out.seek(0)
    stamp = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d-%H%M")
    audit.record(recorder or session, "report.download", user_id=actor_id, study_id=study.id,
                 target=f"study:{study.slug}",
                 details={"report": "dispositions", "format": fmt, "rows": count})
    return Report(out, f"{study.slug}-dispositions-{stamp}.{fmt}", FORMATS[fmt], count)


# --------------------------------------------------------------------------- audit trail

#: Groups of audit actions a supervisor filters by (action prefixes).
AUDIT_KINDS = ("interview.", "case.", "contact.", "sample.", "dnc.", "study.", "quota.", "user.", "backcheck.",
               "report.", "export.")
AUDIT_PAGE = 100


@dataclass(frozen=True)
class AuditFilter:
    kind: str = ""  # an action prefix from AUDIT_KINDS
    action: str = ""  # an exact action
    user_id: int | None = None
    target: str = ""  # an exact target such as case:A-17
    since: dt.date | None = None  # local dates, inclusive
    until: dt.date | None = None
    before: tuple[dt.datetime, int] | None = None  # keyset cursor: (at, id) of the last row shown


@dataclass(frozen=True)
class ChangedValue:
    """A personal value an audit event names by id (``contact_changes``); ``erased`` once the
    contact data was erased (old and new are then None)."""

    field: str
    old: str | None
    new: str | None
    erased: bool = False


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    user: str | None
    action: str
    target: str
    details: dict[str, Any]
    #: the values of ``contact.change`` events and supervisors' notes, from ``contact_changes``
    values: tuple[ChangedValue, ...] = ()


def _named_changes(details: dict[str, Any]) -> list[tuple[int, str]]:
    """(contact_changes id, field) named by an audit event's details."""
    named = [(c["id"], c.get("field", "")) for c in details.get("changes") or []
             if isinstance(c, dict) and isinstance(c.get("id"), int)]
    if isinstance(details.get("note_id"), int):
        named.append((details["note_id"], "note"))
    return named


def _with_values(session: Session, rows: list[AuditRow]) -> list[AuditRow]:
    named = {row.id: _named_changes(row.details) for row in rows}
    ids = {change_id for changes in named.values() for change_id, _ in changes}
    if not ids:
        return rows
    kept = {c.id: c for c in session.scalars(select(ContactChange).where(ContactChange.id.in_(ids)))}
    out = []
    for row in rows:
        values = tuple(ChangedValue(kept[i].field, kept[i].old_value, kept[i].new_value) if i in kept
                       else ChangedValue(field, None, None, erased=True) for i, field in named[row.id])
        out.append(AuditRow(row.id, row.at, row.user, row.action, row.target, row.details, values) if values else row)
    return out


def audit_trail(session: Session, study: Study | None, filters: AuditFilter = AuditFilter(), *,
                tz: str = "Europe/Berlin", limit: int = AUDIT_PAGE
                ) -> tuple[list[AuditRow], tuple[dt.datetime, int] | None]:
    """A page of the study's audit trail (``None``: the events of no study - user accounts, the
    do-not-call list), newest first, and the cursor of the next page (None at the end). Reads the
    index (study_id, at) backwards from the cursor, for no study too (NULLs are in the index)."""
    zone = ZoneInfo(tz)
    query = (select(AuditEvent.id, AuditEvent.at, AuditEvent.action, AuditEvent.target, AuditEvent.details,
                    User.display_name)
             .outerjoin(User, User.id == AuditEvent.user_id)
             .where(AuditEvent.study_id == study.id if study is not None else AuditEvent.study_id.is_(None)))
    if filters.kind:
        query = query.where(AuditEvent.action.startswith(filters.kind, autoescape=True))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.user_id is not None:
        query = query.where(AuditEvent.user_id == filters.user_id)
    if filters.target:
        query = query.where(AuditEvent.target == filters.target)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= dt.datetime.combine(filters.since, dt.time(), zone))
    if filters.until is not None:
        query = query.where(AuditEvent.at < dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time(),
                                                                zone))
    if filters.before is not None:
        at, event_id = filters.before
        query = query.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(literal(at, UTCDateTime()), event_id))
    rows = session.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1)).all()
    page = _with_values(session, [AuditRow(r.id, r.at, r.display_name, r.action, r.target, r.details or {})
                                  for r in rows[:limit]])
    cursor = (page[-1].at, page[-1].id) if len(rows) > limit else None
    return page, cursor
