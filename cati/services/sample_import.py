"""Importing a sample file into a study: all or nothing, duplicates skipped, bulk inserts.

The file is streamed through the validating reader (``cati.sampling.reader``); valid records are
checked against the study (references and numbers already there are duplicates, not errors, so
re-importing a file adds nothing) and against the do-not-call list, and written in chunks inside
a savepoint of the caller's transaction (PostgreSQL ``COPY``, SQLite ``executemany``): a few
statements per thousand rows, and only one chunk in memory. A problem anywhere in the file rolls
the savepoint back, so an import is still all or nothing.

Personal data goes to ``contacts``/``case_phones``; ``cases`` keep only what calling rules and the
questionnaire need. Sample columns the questionnaire does not declare are stored with the contact
(treated as personal until declared), declared ``pii`` fields too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cati.models import CallingZone, Case, CasePhone, DoNotCall, SampleImport, Study, StudyZone
from cati.models.meta import utcnow
from cati.questionnaires.model import Questionnaire, SampleField
from cati.questionnaires.sample_fields import typed_value
from cati.sampling.calling_rules import DNC_REASON, legal_basis_reason
from cati.sampling.fieldwork_settings import effective
from cati.sampling.reader import ContactRecord, RowProblem, SampleReadResult, read_sample

from . import audit, quotas
from .dnc import number_hash
from .studies import current_questionnaire

CHUNK = 5000
DEFAULT_TZ = "Europe/Berlin"
#: Imports of at least this many cases refresh the planner statistics (ANALYZE) before commit.
ANALYZE_AFTER = 10_000


@dataclass
class ImportReport:
    """What an import did (or would have done): printed by the CLI, shown after an upload."""

    filename: str
    rows: int = 0
    imported: int = 0
    blocked: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (row, why)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)
    committed: bool = False

    @property
    def invalid_rows(self) -> int:
        return len({p.row for p in self.problems if p.row > 1})

    def lines(self) -> list[str]:
        def where(p: RowProblem) -> str:
            return (f"row {p.row}" if p.row > 0 else "file") + (f", column {p.column}" if p.column else "")

        out = [f"{self.filename}: {where(p)}: {p.reason}" for p in self.problems]
        out += [f"{self.filename}: row {row}: duplicate skipped: {why}" for row, why in self.duplicates]
        out += [f"{self.filename}: {where(p)}: note: {p.reason}" for p in self.notes]
        return out

    def summary(self) -> str:
        def counted(n: int, one: str, many: str) -> str:
            return f"{n} {one if n == 1 else many}"

        verb = "imported" if self.committed else "nothing imported"
        text = f"{self.filename}: {verb}: {counted(self.imported, 'case', 'cases')}"
        if self.blocked:
            text += f" ({self.blocked} not callable: see `cati sample explain`)"
        return (text + f", {counted(len(self.duplicates), 'duplicate', 'duplicates')} skipped, "
                f"{counted(self.invalid_rows, 'invalid row', 'invalid rows')}")


def _fresh_key(seed: str, ref: str) -> int:
    """A reproducible random position for a fresh case: same seed and reference, same order."""
    digest = hashlib.blake2b(f"{seed}:{ref}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2  # 62 bits: fits a signed BIGINT


def _missing_columns(columns: list[str], specs: tuple[SampleField, ...]) -> list[RowProblem]:
    """Declared sample fields must be columns of the file."""
    present = set(columns)
    return [RowProblem(1, spec.name, f"column {spec.name!r} is required by the questionnaire's sample section")
            for spec in specs if spec.name not in present]


class _Zones:
    """Calling zones by (tz, country, region), created on first use."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids = {(z.tz, z.country, z.region): z.id for z in session.scalars(select(CallingZone))}
        self.used: set[int] = set()

    def id_for(self, tz: str, country: str, region: str) -> int:
        key = (tz, country, region)
        if key not in self.ids:
            zone = CallingZone(tz=tz, country=country, region=region)
            self.session.add(zone)
            self.session.flush()
            self.ids[key] = zone.id
        self.used.add(self.ids[key])
        return self.ids[key]

    def remember_for(self, study_id: int) -> None:
        known = set(self.session.scalars(select(StudyZone.zone_id).where(StudyZone.study_id == study_id)))
        for zone_id in sorted(self.used - known):
            self.session.add(StudyZone(study_id=study_id, zone_id=zone_id))
        self.session.flush()


def import_sample(
    session: Session,
    study: Study,
    source: Any,
    *,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_region: str = "DE",
    skip_invalid: bool = False,
    dnc_salt: str = "cati-dnc",
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV/XLSX sample into ``study``. Nothing is written unless the report says
    ``committed`` (the caller's transaction then commits it).

    Records are written while the file is read, in chunks, inside a savepoint: a problem
    anywhere in the file (unless ``skip_invalid``) rolls the savepoint back, so the import is
    all or nothing although the whole file is never held in memory."""
    questionnaire: Questionnaire | None = current_questionnaire(study)
    specs = questionnaire.sample if questionnaire else ()
    declared = {s.name: s for s in specs}
    read = SampleReadResult()
    field_problems: list[RowProblem] = []
    savepoint = session.begin_nested()
    batch = SampleImport(study_id=study.id, filename=filename[:300], sha256="", user_id=actor_id)
    session.add(batch)
    session.flush()
    report = ImportReport(filename=filename)
    writer = _Writer(session, study, batch, dnc_salt, report)
    columns_checked = False

    def on_record(record: ContactRecord) -> None:
        nonlocal columns_checked
        if not columns_checked:
            columns_checked = True
            field_problems.extend(_missing_columns(read.columns, specs))
        if field_problems and field_problems[0].row <= 1:
            return  # the file cannot be imported: nothing to type or write
        case_fields: dict[str, Any] = {}
        bad = False
        for spec in specs:
            try:
                value = typed_value(spec, record.fields.get(spec.name, ""))
            except ValueError as exc:
                field_problems.append(RowProblem(record.row, spec.name, f"{spec.type} value expected: {exc}"))
                bad = True
                continue
            if not spec.pii and spec.name in record.fields:
                case_fields[spec.name] = value
        if bad or not (skip_invalid or not (read.problems or field_problems)):
            return  # invalid row, or nothing will be imported: stop writing
        pii_fields = {n: v for n, v in record.fields.items() if n not in declared or declared[n].pii}
        writer.add(record, case_fields, pii_fields)

    read_sample(source, filename=filename, mapping=mapping, default_region=default_region, progress=progress,
                on_record=on_record, into=read)
    if not any(p.row <= 1 for p in read.problems) and not columns_checked:
        field_problems.extend(_missing_columns(read.columns, specs))
    report.rows, report.notes = read.rows, list(read.notes)
    report.problems = list(read.problems)
    if not any(p.row <= 1 for p in read.problems):
        report.problems += field_problems
    bad_rows = {p.row for p in report.problems}
    if any(p.row <= 1 for p in report.problems) or (bad_rows and not skip_invalid):
        savepoint.rollback()
        report.imported = report.blocked = 0
        report.duplicates = [(d.row, f"number {d.phone} as in row {d.first_row}") for d in read.duplicates]
        return report
    writer.finish()
    report.duplicates += [(d.row, f"number {d.phone} as in row {d.first_row}") for d in read.duplicates]
    report.duplicates.sort()
    batch.imported, batch.duplicates, batch.invalid = report.imported, len(report.duplicates), report.invalid_rows
    savepoint.commit()
    report.committed = True
    if report.imported and quotas.delivery_quotas(questionnaire):
        quotas.refresh_holds(session, study)  # new cases of an already full cell are held at once
    audit.record(session, "sample.import", user_id=actor_id, study_id=study.id, target=f"import:{batch.id}",
                 details={"filename": filename, "imported": report.imported, "blocked": report.blocked,
                          "duplicates": len(report.duplicates), "invalid": report.invalid_rows})
    return report


def _db_datetime(value: dt.datetime | None, sqlite: bool) -> Any:
    """As ``UTCDateTime`` stores it: naive UTC (SQLite: SQLAlchemy's text form)."""
    if value is None:
        return None
    naive = value.astimezone(dt.UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else naive


class _Writer:
    """Writes valid records in chunks of :data:`CHUNK` rows: a few statements per chunk (PostgreSQL
    ``COPY``, SQLite ``executemany`` on the session's own connection and transaction), ids
    allocated up front so that contacts and phones need no round trip per case."""

    def __init__(self, session: Session, study: Study, batch: SampleImport, dnc_salt: str,
                 report: ImportReport) -> None:
        self.session, self.study, self.batch, self.salt, self.report = session, study, batch, dnc_salt, report
        self.settings = effective(study.purpose, study.settings or {})
        self.seed = str(self.settings.get("seed") or study.id)
        self.zones = _Zones(session)
        self.connection = session.connection()
        self.dialect = self.connection.dialect.name
        self.sqlite = self.dialect == "sqlite"
        self.now = utcnow()
        # Only a study that has cases can hold duplicates; only a non-empty list can block numbers.
        self.study_has_cases = session.scalar(select(Case.id).where(Case.study_id == study.id).limit(1)) is not None
        self.dnc_in_use = session.scalar(select(DoNotCall.number_hash).limit(1)) is not None
        self.next_id = 0
        self.pending: list[tuple[ContactRecord, dict[str, Any], dict[str, Any]]] = []
        self.case_defaults = self._defaults(Case.__table__)

    @staticmethod
    def _defaults(table: Any) -> dict[str, Any]:
        return {c.name: c.default.arg if c.default is not None and c.default.is_scalar else None
                for c in table.columns}

    def add(self, record: ContactRecord, case_fields: dict[str, Any], pii_fields: dict[str, Any]) -> None:
        self.pending.append((record, case_fields, pii_fields))
        if len(self.pending) >= CHUNK:
            self.flush()

    def finish(self) -> None:
        self.flush()
        self.zones.remember_for(self.study.id)
        if self.report.imported >= ANALYZE_AFTER:
            self._analyze()

    def _analyze(self) -> None:
        """Fresh planner statistics after a big import, so the first draws plan on real sizes."""
        for table in ("cases", "contacts", "case_phones"):
            if self.sqlite:
                self.connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
            self.connection.exec_driver_sql(f"ANALYZE {table}")

    def _duplicates(self, chunk: list[tuple[ContactRecord, dict[str, Any], dict[str, Any]]]) -> list[Any]:
        """Records whose reference or number is already in the study are reported, not written."""
        if not self.study_has_cases:
            return chunk
        study_id = self.study.id
        refs = set(self.session.scalars(select(Case.ref).where(
            Case.study_id == study_id, Case.ref.in_([r.reference for r, _, _ in chunk if r.reference]))))
        numbers = set(self.session.scalars(select(CasePhone.e164).where(
            CasePhone.study_id == study_id, CasePhone.e164.in_([p.e164 for r, _, _ in chunk for p in r.phones]))))
        fresh = []
        for item in chunk:
            record = item[0]
            known = next((p.e164 for p in record.phones if p.e164 in numbers), None)
            if record.reference and record.reference in refs:
                self.report.duplicates.append((record.row, f"reference {record.reference} is already in the study"))
            elif known is not None:
                self.report.duplicates.append((record.row, f"number {known} is already in the study"))
            else:
                fresh.append(item)
        return fresh

    def _ids(self, count: int) -> list[int]:
        if self.dialect == "postgresql":
            return list(self.session.scalars(text(
                "SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, :n)"), {"n": count}))
        if not self.next_id:  # SQLite: the transaction holds the write lock, as SQLite's own max + 1
            self.next_id = (self.session.scalar(text("SELECT max(id) FROM cases")) or 0) + 1
        first, self.next_id = self.next_id, self.next_id + count
        return list(range(first, first + count))

    def flush(self) -> None:
        chunk, self.pending = self._duplicates(self.pending), []
        if not chunk:
            return
        sqlite, now, study, report = self.sqlite, self.now, self.study, self.report
        salt, legal_basis = self.salt, self.settings["legal_basis"]
        hashes = {p.e164: number_hash(p.e164, salt) for record, _, _ in chunk for p in record.phones}
        blocked_numbers: set[str] = set()
        if self.dnc_in_use:
            listed = set(self.session.scalars(
                select(DoNotCall.number_hash).where(DoNotCall.number_hash.in_(list(hashes.values())))))
            blocked_numbers = {e164 for e164, h in hashes.items() if h in listed}
        ids = self._ids(len(chunk))
        stamp = _db_datetime(now, sqlite)
        case_columns = list(self.case_defaults)
        cases, contacts, phones = [], [], []
        for case_id, (record, case_fields, pii_fields) in zip(ids, chunk, strict=True):
            first = record.phones[0]
            ref = record.reference or f"S{self.batch.id}-{record.row}"
            kind, reason = "", ""
            if any(p.e164 in blocked_numbers for p in record.phones):
                kind, reason = "dnc", DNC_REASON
            else:
                legal = legal_basis_reason(legal_basis, record.person_type, record.customer, record.consent_at,
                                           purpose=study.purpose, at_utc=now)
                if legal:
                    kind, reason = "legal", legal
            row = dict(self.case_defaults)
            row.update(
                id=case_id, study_id=study.id, ref=ref, state="blocked" if kind else "ready", tier=2,
                zone_id=self.zones.id_for(record.timezone or first.timezone or DEFAULT_TZ,
                                          record.country or default_country(first), record.state or ""),
                order_key=_fresh_key(self.seed, ref), next_call_at=stamp, block_kind=kind,
                block_reason=reason[:300], person_type=record.person_type or "private",
                customer=int(record.customer) if sqlite else record.customer,
                consent_at=_db_datetime(record.consent_at, sqlite),
                consent_source=(record.consent_source or "")[:200], language=(record.language or "")[:8],
                fields=json.dumps(case_fields), is_test=0 if sqlite else False, import_id=self.batch.id,
                created_at=stamp,
            )
            cases.append(tuple(row[c] for c in case_columns))
            contacts.append((case_id, (record.name or "")[:200], (record.postcode or "")[:16], json.dumps(pii_fields)))
            phones.extend((case_id, study.id, position, p.e164) for position, p in enumerate(record.phones, start=1))
            report.blocked += bool(kind)
        self._insert("cases", case_columns, cases)
        self._insert("contacts", ["case_id", "name", "postcode", "pii_fields"], contacts)
        self._insert("case_phones", ["case_id", "study_id", "position", "e164"], phones)
        report.imported += len(cases)

    def _insert(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(columns)
        driver = self.connection.connection.driver_connection
        if self.dialect == "postgresql":
            with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif self.sqlite:
            marks = ", ".join("?" * len(columns))
            driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608 (our columns)
        else:
            marks = ", ".join(f":{c}" for c in columns)
            self.connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"),  # noqa: S608
                                    [dict(zip(columns, row, strict=True)) for row in rows])


def default_country(phone: Any) -> str:
    """Non-geographic numbers (+800 ...) have no region; they are called under German rules."""
    return phone.region or "DE"
