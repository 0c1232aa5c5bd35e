"""Which interviews a data export contains, and the export dataset built from them.

The writers (:mod:`cati.exports`) are pure; this module selects the interviews and feeds their
rows to :func:`cati.exports.build_dataset`. ``cati export``, the portal's downloads and the
background jobs (:mod:`cati.services.export_jobs`) all go through :func:`build`.

Groups (``--include`` of ``cati export``, the check boxes of the portal's download form)

``complete``
    status ``complete`` (AAPOR 1.1). The default, alone.
``partial``
    (a) interviews the questionnaire ended with an AAPOR 1.2 disposition (a partial end of the
    questionnaire's own), and (b) interviews broken off (status ``broken_off``: the respondent
    hung up) with at least one answer. A break-off has no stored row, so its row is computed at
    export time from the stored engine state (:meth:`Engine.export_row`): the answers given so
    far, ``disposition`` empty. A break-off that is later resumed and completed moves to the
    completes in the next export. Decision: both count, because a researcher who asks for
    partials wants every interview with usable answers that did not reach the end, and the
    interviewer console cannot make a break-off "final" in the questionnaire's terms.
``screened``
    ended with an AAPOR 4.x disposition (screened out 4.7, quota full 4.8, ...).
``test``
    adds the test interviews (``cati testdata``, ``is_test``) of the chosen groups. Without it,
    no test interview is ever exported.

Never exported: active interviews, other ends inside the questionnaire (refusals 2.x, ...),
break-offs without any answer, and invalidated interviews (failed back-checks).

Date range: local calendar days (``Europe/Berlin`` unless told) of the interview's end
(``ended_at``); for break-offs of the last activity (``updated_at``). Timestamps in the files
are converted to the same zone.

Queries: every selection starts with ``study_id = ? AND status IN (...)``
(``ix_interviews_study_id_status``); the disposition groups add ``version_id``/``disposition``
conditions per questionnaire version (the AAPOR class of a disposition name is the
questionnaire's, so it is looked up per version). Rows are streamed in batches (``yield_per``):
ended interviews' stored ``data`` rows, plus ``attempts`` from the case (test interviews have
no case: system-missing). The codebooks are those of every questionnaire version that occurs
in the selection (the version union of :func:`cati.exports.merge_codebooks`); an empty
selection exports the current version's variables and no rows.

Personal data (variables marked ``pii``) is left out unless ``contacts=True``: the contact
export, which holds only ``resp_id``, the disposition and version, the case's reference, the
contact's name, postcode and numbers, and the ``pii`` variables, so it can be matched to the data
file by ``resp_id`` by those entitled to (permission ``study:export_contacts``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cati.exports import ATTEMPTS, Dataset, ExportInfo, build_dataset
from cati.exports.csv import EXCEL
from cati.models import Case, CasePhone, Contact, Interview, QuestionnaireVersion, Study, User
from cati.questionnaires.errors import QuestionnaireError
from cati.questionnaires.model import ExportVariable
from cati.questionnaires.state import State

from .interviews import engine_for, engine_of

GROUPS = ("complete", "partial", "screened")
DEFAULT_TZ = "Europe/Berlin"
BATCH = 500

#: The contact export's own columns (after ``resp_id``, ``disposition``, ``q_version``).
CONTACT_COLUMNS = ("case_ref", "contact_name", "contact_postcode", "contact_phone", "contact_phone2",
                   "contact_phone3")
_CONTACT_LABELS = {
    "de": {"case_ref": "Fallnummer (Stichprobe)", "contact_name": "Name (Kontakt)",
           "contact_postcode": "Postleitzahl (Kontakt)", "contact_phone": "Telefonnummer (Kontakt)",
           "contact_phone2": "Telefonnummer 2 (Kontakt)", "contact_phone3": "Telefonnummer 3 (Kontakt)"},
    "en": {"case_ref": "Case reference (sample)", "contact_name": "Name (contact)",
           "contact_postcode": "Postcode (contact)", "contact_phone": "Phone number (contact)",
           "contact_phone2": "Phone number 2 (contact)", "contact_phone3": "Phone number 3 (contact)"},
}
_CONTACT_WIDTHS = {"case_ref": 64, "contact_name": 200, "contact_postcode": 16}
_CONTACT_KEEP = ("resp_id", "disposition", "q_version")

_WORDS = {
    "de": {"interviews": "Interviews", "complete": "vollständig", "partial": "teilweise (Abbrüche)",
           "screened": "ausgescreent", "test": "Testdaten", "included": "eingeschlossen",
           "excluded": "ausgeschlossen", "period": "Zeitraum", "to": "bis", "contacts": "Kontaktdaten",
           "contacts_value": "Kontaktexport: nur Befragten-ID, Kontaktdaten und personenbezogene Variablen"},
    "en": {"interviews": "Interviews", "complete": "complete", "partial": "partial (break-offs)",
           "screened": "screened out", "test": "Test data", "included": "included", "excluded": "excluded",
           "period": "Period", "to": "to", "contacts": "Contact data",
           "contacts_value": "contact export: respondent id, contact data and personal variables only"},
}


class SelectionError(ValueError):
    """A selection that cannot be made (unknown group, wrong dates); the message says which."""


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """Which interviews: disposition groups, test data or not, an optional range of local days."""

    groups: tuple[str, ...] = ("complete",)
    test: bool = False
    since: dt.date | None = None
    until: dt.date | None = None
    tz: str = DEFAULT_TZ

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown:
            raise SelectionError(f"unknown group {unknown[0]!r}; choose from {', '.join((*GROUPS, 'test'))}")
        if not self.groups:
            raise SelectionError("choose at least one of " + ", ".join(GROUPS))
        object.__setattr__(self, "groups", tuple(g for g in GROUPS if g in self.groups))  # canonical order
        if self.since and self.until and self.since > self.until:
            raise SelectionError(f"the period starts ({self.since}) after it ends ({self.until})")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise SelectionError(f"unknown time zone {self.tz!r}") from None

    @classmethod
    def parse_include(cls, text: str | None, **kwargs: Any) -> Selection:
        """``"complete,partial,test"`` -> groups and test flag (``test`` alone: completes + tests)."""
        items = [item.strip().lower() for item in (text or "").split(",") if item.strip()]
        test = "test" in items
        groups = tuple(item for item in items if item != "test") or ("complete",)
        return cls(groups=groups, test=test, **kwargs)

    def to_json(self) -> dict[str, Any]:
        return {"groups": list(self.groups), "test": self.test,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "tz": self.tz}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        def day(value: Any) -> dt.date | None:
            return dt.date.fromisoformat(value) if value else None

        return cls(groups=tuple(data.get("groups") or ("complete",)), test=bool(data.get("test")),
                   since=day(data.get("since")), until=day(data.get("until")), tz=data.get("tz") or DEFAULT_TZ)

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start, end) in UTC of the local days ``since`` .. ``until``."""
        zone = ZoneInfo(self.tz)
        start = dt.datetime.combine(self.since, dt.time(), zone).astimezone(dt.UTC) if self.since else None
        end = None
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
        return start, end

    def describe(self, language: str = "de", *, contacts: bool = False) -> dict[str, str]:
        """The ``filters`` of the export's Info sheet / syntax header."""
        w = _WORDS.get(language, _WORDS["en"])
        out = {w["interviews"]: ", ".join(w[g] for g in self.groups),
               w["test"]: w["included"] if self.test else w["excluded"]}
        if self.since or self.until:
            out[w["period"]] = f"{self.since or '…'} {w['to']} {self.until or '…'} ({self.tz})"
        if contacts:
            out[w["contacts"]] = w["contacts_value"]
        return out

    def key(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


@dataclass(frozen=True)
class FileOptions:
    """How the file is written, beyond which interviews it holds: ``labels`` adds the Excel
    workbook's data sheet with value labels instead of codes (``Daten_Labels``); ``excel_csv``
    writes the CSV files for Excel (:data:`cati.exports.csv.EXCEL`: semicolon, decimal comma,
    byte-order mark). Each belongs to one format: :meth:`for_format` drops an option that does not
    apply, so such a request is the same request (and the same cached file) as one without it."""

    labels: bool = False
    excel_csv: bool = False

    def for_format(self, fmt: str) -> FileOptions:
        return FileOptions(labels=self.labels and fmt == "xlsx", excel_csv=self.excel_csv and fmt == "csv")

    def writer_options(self, fmt: str) -> dict[str, Any]:
        """Keyword arguments for :func:`cati.exports.write` in ``fmt``."""
        options = self.for_format(fmt)
        return {**({"labels": True} if options.labels else {}), **(EXCEL if options.excel_csv else {})}

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "excel_csv": self.excel_csv}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileOptions:
        return cls(labels=bool(data.get("labels")), excel_csv=bool(data.get("excel_csv")))


# --------------------------------------------------------------------------- queries


def _versions(session: Session, study: Study) -> list[QuestionnaireVersion]:
    return list(session.scalars(select(QuestionnaireVersion).where(QuestionnaireVersion.study_id == study.id)
                                .order_by(QuestionnaireVersion.version)))


def dispositions_by_group(version: QuestionnaireVersion) -> dict[str, list[str]]:
    """The disposition names of a questionnaire version that belong to ``partial``/``screened``."""
    try:
        dispositions = engine_for(version).questionnaire.dispositions.values()
    except QuestionnaireError:  # a stored version always compiles; be safe anyway
        return {"partial": [], "screened": []}
    return {"partial": sorted(d.name for d in dispositions if d.aapor.startswith("1.2")),
            "screened": sorted(d.name for d in dispositions if d.aapor.startswith("4."))}


@dataclass(frozen=True)
class _Part:
    """One query's worth of a selection: its WHERE clause and the column its dates refer to."""

    where: tuple[Any, ...]
    moment: Any
    computed: bool  # rows are computed from the engine state (break-offs), not read from ``data``


def _parts(session: Session, study: Study, selection: Selection) -> list[_Part]:
    groups = set(selection.groups)
    test = () if selection.test else (Interview.is_test.is_(False),)
    ended: list[Any] = []
    statuses: list[str] = []
    if "complete" in groups:
        statuses.append("complete")
        ended.append(Interview.status == "complete")
    named = groups & {"partial", "screened"}
    if named:
        for version in _versions(session, study):
            names = sorted({n for g in named for n in dispositions_by_group(version)[g]})
            if names:
                ended.append(and_(Interview.status == "ended", Interview.version_id == version.id,
                                  Interview.disposition.in_(names)))
                if "ended" not in statuses:
                    statuses.append("ended")
    parts = []
    if statuses:
        where = (Interview.study_id == study.id, Interview.status.in_(statuses), *test,
                 or_(*ended) if len(ended) > 1 else ended[0])
        parts.append(_Part(where, Interview.ended_at, computed=False))
    if "partial" in groups:
        parts.append(_Part((Interview.study_id == study.id, Interview.status == "broken_off", *test),
                           Interview.updated_at, computed=True))
    start, end = selection.bounds()
    out = []
    for part in parts:
        where = part.where
        if start is not None:
            where = (*where, part.moment >= start)
        if end is not None:
            where = (*where, part.moment < end)
        out.append(replace(part, where=where))
    return out


@dataclass(frozen=True)
class DataState:
    """What an export's content depends on: how many interviews, which, and their last change."""

    count: int = 0
    id_sum: int = 0
    last_change: str = ""

    def digest(self, *extra: Any) -> str:
        text = json.dumps([self.count, self.id_sum, self.last_change, *extra], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def data_state(session: Session, study: Study, selection: Selection) -> DataState:
    """count, sum of ids and newest ``updated_at`` of the selected interviews (one aggregate per
    part, on the ``(study_id, status)`` index). A new, changed, invalidated or erased interview
    changes at least one of them."""
    rows = id_sum = 0
    last: dt.datetime | None = None
    for part in _parts(session, study, selection):
        n, total, newest = session.execute(
            select(func.count(), func.coalesce(func.sum(Interview.id), 0), func.max(Interview.updated_at))
            .where(*part.where)).one()
        rows += int(n)
        id_sum += int(total)
        if newest is not None:
            newest = newest if isinstance(newest, dt.datetime) else dt.datetime.fromisoformat(str(newest))
            last = newest if last is None or newest > last else last
    return DataState(rows, id_sum, last.isoformat() if last else "")


def count(session: Session, study: Study, selection: Selection) -> int:
    return data_state(session, study, selection).count


def version_ids(session: Session, study: Study, selection: Selection) -> list[int]:
    ids: set[int] = set()
    for part in _parts(session, study, selection):
        ids.update(session.scalars(select(Interview.version_id).where(*part.where).distinct()))
    return sorted(ids)


# --------------------------------------------------------------------------- rows


def _contact_variables(language: str, taken: set[str]) -> list[ExportVariable]:
    labels = _CONTACT_LABELS.get(language, _CONTACT_LABELS["en"])
    out = []
    for name in CONTACT_COLUMNS:
        if name in taken:  # a questionnaire variable of that name wins; ours is left out
            continue
        width = _CONTACT_WIDTHS.get(name, 20)
        out.append(ExportVariable(name=name, label=labels[name], kind="paradata", answer_key=None,
                                  spss_type="string", spss_format=f"A{width}", measure="nominal", width=width,
                                  pii=True))
    return out


def codebooks(session: Session, study: Study, ids: Sequence[int], *, contacts: bool = False,
              language: str = "de") -> dict[int, list[ExportVariable]]:
    """``{questionnaire version: codebook}`` for the versions ``ids`` (the current version when
    none); for the contact export only the columns it holds."""
    versions = [session.get(QuestionnaireVersion, i) for i in ids] if ids else [study.current_version]
    out: dict[int, list[ExportVariable]] = {}
    for version in versions:
        if version is None:
            continue
        codebook = list(engine_for(version).codebook())
        if contacts:
            keep = [v for v in codebook if v.name in _CONTACT_KEEP]
            extra = _contact_variables(language, {v.name for v in codebook})
            codebook = [*keep, *extra, *(v for v in codebook if v.pii and v.name not in _CONTACT_KEEP)]
        out[version.version] = codebook
    return out


def _phones(session: Session, case_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = [i for i in case_ids if i is not None]
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    for case_id, e164 in session.execute(select(CasePhone.case_id, CasePhone.e164)
                                         .where(CasePhone.case_id.in_(ids))
                                         .order_by(CasePhone.case_id, CasePhone.position, CasePhone.id)):
        out.setdefault(case_id, []).append(e164)
    return out


def iter_rows(session: Session, study: Study, selection: Selection, *, contacts: bool = False,
              batch: int = BATCH, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """The export row of every selected interview (row contract of :mod:`cati.exports`), in
    batches of ``batch``; ``progress(n)`` gets the number of interviews read so far."""
    done = 0
    engines: dict[int, Any] = {}
    for part in _parts(session, study, selection):
        columns: list[Any] = [Interview.id, Interview.version_id, Interview.resp_id, Interview.case_id,
                              Case.attempts, Case.ref]
        if part.computed:
            columns += [Interview.state, User.code]
        else:
            columns += [Interview.data]
        if contacts:
            columns += [Contact.name, Contact.postcode]
        stmt = (select(*columns).outerjoin(Case, Case.id == Interview.case_id).where(*part.where)
                .order_by(Interview.id))
        if part.computed:
            stmt = stmt.outerjoin(User, User.id == Interview.interviewer_id)
        if contacts:
            stmt = stmt.outerjoin(Contact, Contact.case_id == Interview.case_id)
        result = session.execute(stmt.execution_options(yield_per=batch))
        for rows in result.partitions():
            phones = _phones(session, (r.case_id for r in rows)) if contacts else {}
            for r in rows:
                if part.computed:
                    row = _computed_row(session, engines, r)
                    if row is None:
                        continue
                else:
                    row = dict(r.data or {})
                row[ATTEMPTS] = r.attempts
                if contacts:
                    numbers = phones.get(r.case_id, [])
                    row.update(case_ref=r.ref, contact_name=r.name or None, contact_postcode=r.postcode or None,
                               contact_phone=numbers[0] if numbers else None,
                               contact_phone2=numbers[1] if len(numbers) > 1 else None,
                               contact_phone3=numbers[2] if len(numbers) > 2 else None)
                yield row
            done += len(rows)
            if progress is not None:
                progress(done)


def _computed_row(session: Session, engines: dict[int, Any], r: Any) -> dict[str, Any] | None:
    """A break-off's row from its engine state (None when nothing was answered)."""
    state = State.from_dict(r.state or {})
    if not state.answers:
        return None
    engine = engines.get(r.version_id)
    if engine is None:
        engine = engines[r.version_id] = engine_of(session, r.version_id)
    return engine.export_row(state, {"resp_id": r.resp_id, "interviewer_id": r.code})


# --------------------------------------------------------------------------- dataset


@dataclass
class Built:
    dataset: Dataset
    state: DataState
    versions: list[int] = field(default_factory=list)


def build(session: Session, study: Study, selection: Selection, *, contacts: bool = False, language: str = "de",
          progress: Callable[[int], None] | None = None, batch: int = BATCH) -> Built:
    """The export dataset of ``selection`` (see the module docs); raises ExportError for data
    the writers cannot hold."""
    state = data_state(session, study, selection)
    ids = version_ids(session, study, selection)
    books = codebooks(session, study, ids, contacts=contacts, language=language)
    current = study.current_version
    info = ExportInfo(study=study.slug, title=study.name,
                      questionnaire_id=current.questionnaire_id if current else study.slug,
                      filters=selection.describe(language, contacts=contacts), language=language)
    rows = iter_rows(session, study, selection, contacts=contacts, batch=batch, progress=progress)
    dataset = build_dataset(books, rows, include_pii=contacts, info=info, timezone=selection.tz)
    return Built(dataset, state, sorted(books))


def audit_details(fmt: str, selection: Selection, *, contacts: bool = False,
                  file_options: FileOptions | None = None, **extra: Any) -> dict[str, Any]:
    """An export's audit details: format, options (the selection and the file options that apply
    to the format), contact export or not, and ``extra``."""
    options = {**selection.to_json(), **(file_options or FileOptions()).for_format(fmt).to_json()}
    return {"format": fmt, "options": options, "contacts": contacts, **extra}
