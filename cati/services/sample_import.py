"""Importing a sample file into a study: all or nothing, duplicates skipped, bulk inserts.

The file is read and validated completely (``cati.sampling.reader``) before anything is written.
Then, in the caller's transaction, records are checked against the study (references and numbers
already there are duplicates, not errors, so re-importing a file adds nothing) and against the
do-not-call list, and written in chunks with multi-row INSERTs — the cost is a few statements per
thousand rows, not per row.

Personal data goes to ``contacts``/``case_phones``; ``cases`` keep only what calling rules and the
questionnaire need. Sample columns the questionnaire does not declare are stored with the contact
(treated as personal until declared), declared ``pii`` fields too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.models import CallingZone, Case, CasePhone, Contact, DoNotCall, SampleImport, Study, StudyZone
from cati.models.meta import utcnow
from cati.questionnaires.model import Questionnaire, SampleField
from cati.questionnaires.sample_fields import typed_value
from cati.sampling.calling_rules import legal_basis_reason
from cati.sampling.fieldwork_settings import effective
from cati.sampling.reader import ContactRecord, RowProblem, read_sample

from . import audit
from .dnc import number_hash
from .studies import current_questionnaire

CHUNK = 2000
DEFAULT_TZ = "Europe/Berlin"


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
        out = []
        for p in self.problems:
            where = f"row {p.row}" if p.row > 0 else "file"
            col = f", column {p.column}" if p.column else ""
            out.append(f"{self.filename}: {where}{col}: {p.reason}")
        for row, why in self.duplicates:
            out.append(f"{self.filename}: row {row}: duplicate skipped: {why}")
        for p in self.notes:
            out.append(f"{self.filename}: row {p.row}: note: {p.reason}")
        return out

    def summary(self) -> str:
        verb = "imported" if self.committed else "nothing imported"
        text = f"{self.filename}: {verb}: {self.imported} cases"
        if self.blocked:
            text += f" ({self.blocked} not callable: see `cati sample explain`)"
        return text + f", {len(self.duplicates)} duplicates skipped, {self.invalid_rows} invalid rows"


def _fresh_key(seed: str, ref: str) -> int:
    """A reproducible random position for a fresh case: same seed and reference, same order."""
    digest = hashlib.blake2b(f"{seed}:{ref}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2  # 62 bits: fits a signed BIGINT


def _check_fields(records: Iterable[ContactRecord], columns: list[str], specs: tuple[SampleField, ...],
                  report: ImportReport) -> None:
    """Declared sample fields must be columns of the file, with values of their type."""
    present = set(columns)
    for spec in specs:
        if spec.name not in present:
            report.problems.append(RowProblem(1, spec.name, f"column {spec.name!r} is required by the "
                                                             "questionnaire's sample section"))
    if report.problems:
        return
    for record in records:
        for spec in specs:
            try:
                typed_value(spec, record.fields.get(spec.name, ""))
            except ValueError as exc:
                report.problems.append(RowProblem(record.row, spec.name, f"{spec.type} value expected: {exc}"))


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


def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _existing(session: Session, study_id: int, records: list[ContactRecord]) -> tuple[set[str], set[str]]:
    refs, numbers = set(), set()
    wanted_refs = [r.reference for r in records if r.reference]
    wanted_numbers = [p.e164 for r in records for p in r.phones]
    for chunk in _chunks(wanted_refs):
        refs.update(session.scalars(select(Case.ref).where(Case.study_id == study_id, Case.ref.in_(chunk))))
    for chunk in _chunks(wanted_numbers):
        numbers.update(session.scalars(
            select(CasePhone.e164).where(CasePhone.study_id == study_id, CasePhone.e164.in_(chunk))))
    return refs, numbers


def _dnc_hashes(session: Session, salt: str, records: list[ContactRecord]) -> set[str]:
    hashes = [number_hash(p.e164, salt) for r in records for p in r.phones]
    found: set[str] = set()
    for chunk in _chunks(hashes):
        found.update(session.scalars(select(DoNotCall.number_hash).where(DoNotCall.number_hash.in_(chunk))))
    return found


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
    ``committed`` (the caller's transaction then commits it)."""
    read = read_sample(source, filename=filename, mapping=mapping, default_region=default_region, progress=progress)
    report = ImportReport(filename=filename, rows=read.rows, problems=list(read.problems), notes=list(read.notes))
    report.duplicates = [(d.row, f"number {d.phone} as in row {d.first_row}") for d in read.duplicates]
    questionnaire: Questionnaire | None = current_questionnaire(study)
    specs = questionnaire.sample if questionnaire else ()
    file_level = [p for p in report.problems if p.row <= 1]
    if not file_level:
        _check_fields(read.records, read.columns, specs, report)
    bad_rows = {p.row for p in report.problems}
    if any(p.row <= 1 for p in report.problems) or (bad_rows and not skip_invalid):
        return report
    records = [r for r in read.records if r.row not in bad_rows]

    refs, numbers = _existing(session, study.id, records)
    fresh: list[ContactRecord] = []
    for record in records:
        if record.reference and record.reference in refs:
            report.duplicates.append((record.row, f"reference {record.reference} is already in the study"))
        elif any(p.e164 in numbers for p in record.phones):
            known = next(p.e164 for p in record.phones if p.e164 in numbers)
            report.duplicates.append((record.row, f"number {known} is already in the study"))
        else:
            fresh.append(record)
    report.duplicates.sort()

    batch = SampleImport(study_id=study.id, filename=filename[:300], sha256="", user_id=actor_id,
                         duplicates=len(report.duplicates), invalid=report.invalid_rows)
    session.add(batch)
    session.flush()
    _write(session, study, batch, fresh, specs, dnc_salt, report)
    batch.imported = report.imported
    report.committed = True
    audit.record(session, "sample.import", user_id=actor_id, study_id=study.id, target=f"import:{batch.id}",
                 details={"filename": filename, "imported": report.imported, "blocked": report.blocked,
                          "duplicates": len(report.duplicates), "invalid": report.invalid_rows})
    return report


def _write(session: Session, study: Study, batch: SampleImport, records: list[ContactRecord],
           specs: tuple[SampleField, ...], dnc_salt: str, report: ImportReport) -> None:
    settings = effective(study.purpose, study.settings or {})
    seed = str(settings.get("seed") or study.id)
    zones = _Zones(session)
    dnc = _dnc_hashes(session, dnc_salt, records)
    declared = {s.name: s for s in specs}
    now = utcnow()
    case_table, contact_table, phone_table = Case.__table__, Contact.__table__, CasePhone.__table__
    for chunk in _chunks(records):
        case_rows, contact_rows, phone_rows = [], [], []
        for record in chunk:
            first = record.phones[0]
            tz = record.timezone or first.timezone or DEFAULT_TZ
            country = record.country or default_country(first)
            ref = record.reference or f"S{batch.id}-{record.row}"
            kind, reason = "", ""
            if any(number_hash(p.e164, dnc_salt) in dnc for p in record.phones):
                kind, reason = "dnc", "number is on the do-not-call list"
            else:
                legal = legal_basis_reason(settings["legal_basis"], record.person_type, record.customer,
                                           record.consent_at, purpose=study.purpose, at_utc=now)
                if legal:
                    kind, reason = "legal", legal
            case_fields = {n: typed_value(declared[n], v) for n, v in record.fields.items()
                           if n in declared and not declared[n].pii}
            pii_fields = {n: v for n, v in record.fields.items() if n not in declared or declared[n].pii}
            case_rows.append({
                "study_id": study.id, "ref": ref, "state": "blocked" if kind else "ready", "tier": 2,
                "zone_id": zones.id_for(tz, country, record.state or ""), "order_key": _fresh_key(seed, ref),
                "next_call_at": now, "block_kind": kind, "block_reason": reason[:300],
                "person_type": record.person_type or "private", "customer": record.customer,
                "consent_at": record.consent_at, "consent_source": (record.consent_source or "")[:200],
                "language": (record.language or "")[:8], "fields": case_fields, "is_test": False,
                "import_id": batch.id, "created_at": now, "attempts": 0, "attempts_today": 0,
                "outcome": "", "aapor": "3.11",
            })
            contact_rows.append({"name": (record.name or "")[:200], "postcode": (record.postcode or "")[:16],
                                 "pii_fields": pii_fields})
            phone_rows.append([p.e164 for p in record.phones])
            report.blocked += bool(kind)
        ids = session.execute(
            case_table.insert().returning(case_table.c.id, sort_by_parameter_order=True), case_rows
        ).scalars().all()
        for case_id, contact in zip(ids, contact_rows, strict=True):
            contact["case_id"] = case_id
        session.execute(contact_table.insert(), contact_rows)
        session.execute(phone_table.insert(), [
            {"case_id": case_id, "study_id": study.id, "position": position, "e164": e164}
            for case_id, numbers in zip(ids, phone_rows, strict=True)
            for position, e164 in enumerate(numbers, start=1)
        ])
        report.imported += len(ids)
    zones.remember_for(study.id)


def default_country(phone: Any) -> str:
    """Non-geographic numbers (+800 ...) have no region; they are called under German rules."""
    return phone.region or "DE"
