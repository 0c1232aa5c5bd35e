"""Read a sample file (CSV or XLSX) into validated contact records, with every problem listed.

Pure and streaming: rows are read one at a time (CSV through ``csv.reader`` on a decoding text
stream, XLSX through openpyxl's read-only mode) and only the resulting records are kept - or
none, when the caller passes ``on_record`` to consume them as they come. The function never
raises on bad input; file-level problems are reported as row 0 (the file) or row 1 (the header).

Decisions (see cli.md for the column list):

* Rows are numbered as a spreadsheet shows them: the header is row 1; a CSV record with a quoted
  line break is one row; blank rows keep their number and are skipped. An Excel ``sep=;`` hint
  line is honoured and not counted (Excel hides it too).
* Encodings: a UTF-8 or UTF-16 byte-order mark decides; otherwise a file that is valid UTF-8 is
  UTF-8, else Windows-1252 (what German Excel writes); a file that is neither (or contains NUL
  bytes) is refused. Delimiter: the one of ``, ; TAB |`` that splits the header into the most
  columns consistently over the first 50 rows.
* Column names are matched case-insensitively after ``mapping`` (file column -> our column) is
  applied; problems name the column as it is written in the file. Unnamed columns are ignored.
* ``consent_at``: ISO 8601 date or date-time (also ``DD.MM.YYYY [HH:MM[:SS]]``). A value without
  offset is the contact's local time; a date alone means the start of that day in the contact's
  time zone. Stored as an aware UTC datetime.
* ``country`` overrides the country derived from the number (holidays follow residence);
  ``timezone`` overrides the zone. ``state`` for German contacts: code or name
  (:mod:`cati.sampling.regions`), else derived from the postcode only where that is certain;
  other countries take the ``holidays`` package's subdivision codes.
* Duplicates: a row sharing any number with an earlier valid row is skipped and reported with the
  first row (not an error). A repeated ``id`` is an error.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import itertools
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers

from cati.sampling.phones import Phone, PhoneError, normalise_phone
from cati.sampling.regions import state_from_postcode, subdivision_code

__all__ = [
    "RECOGNISED_COLUMNS",
    "ContactRecord",
    "Duplicate",
    "RowProblem",
    "SampleReadResult",
    "parse_consent",
    "read_sample",
]

RECOGNISED_COLUMNS = (
    "id", "phone", "phone2", "phone3", "name", "state", "postcode", "country", "timezone",
    "person_type", "customer", "consent_at", "consent_source", "language",
)
PHONE_COLUMNS = ("phone", "phone2", "phone3")
DELIMITERS = (",", ";", "\t", "|")
PROGRESS_EVERY = 1000
_CHUNK = 1 << 20
_SNIFF_CHARS = 64 * 1024

_PERSON_TYPES = {
    "private": "private", "privat": "private", "privatperson": "private", "b2c": "private",
    "business": "business", "geschäftlich": "business", "geschaeftlich": "business",
    "gewerblich": "business", "firma": "business", "b2b": "business",
}
_YES = {"yes", "y", "ja", "j", "true", "1", "x"}
_NO = {"no", "n", "nein", "false", "0", ""}
_COUNTRY_NAMES = {
    "deutschland": "DE", "germany": "DE", "österreich": "AT", "oesterreich": "AT", "austria": "AT",
    "schweiz": "CH", "switzerland": "CH", "liechtenstein": "LI", "luxemburg": "LU", "luxembourg": "LU",
}
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?[eE]\+?\d+$")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """``row`` 0 = the file as a whole, 1 = the header; ``column`` as written in the file."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        return f"{where}, column {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    row: int
    first_row: int
    phone: str
    column: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.phone} ({self.column}) already in row {self.first_row}, skipped"


@dataclass(slots=True)
class ContactRecord:
    row: int
    reference: str | None
    phones: tuple[Phone, ...]
    name: str | None
    state: str | None
    postcode: str | None
    country: str | None
    timezone: str | None
    person_type: str | None
    customer: bool
    consent_at: dt.datetime | None
    consent_source: str | None
    language: str | None
    fields: dict[str, str]
    #: "column", "postcode" or None (unknown: the union of all states' holidays applies)
    state_source: str | None = None


@dataclass
class SampleReadResult:
    records: list[ContactRecord] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    #: header as written in the file
    columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    #: things worth telling that do not invalidate a row (time zone chosen among several, ...)
    notes: list[RowProblem] = field(default_factory=list)
    format: str | None = None
    #: data rows read (blank rows not counted) and valid records produced
    rows: int = 0
    valid: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------- sources


def _open_binary(source: Any) -> tuple[IO[bytes] | None, bool, str | None]:
    """(binary stream, we own it, problem)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source)), True, None
    if isinstance(source, str | os.PathLike):
        try:
            return open(source, "rb"), True, None
        except OSError as exc:
            return None, False, f"cannot open the file: {exc.strerror or exc}"
    if hasattr(source, "read"):
        probe = source.read(0)
        if isinstance(probe, str):
            return io.BytesIO(source.read().encode("utf-8")), True, None
        if not (hasattr(source, "seekable") and source.seekable()):
            return io.BytesIO(source.read()), True, None
        return source, False, None
    return None, False, f"cannot read a {type(source).__name__}"


def detect_encoding(stream: IO[bytes]) -> tuple[str | None, str | None]:
    """(encoding, problem). Leaves the stream at its start."""
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    utf8_ok = cp1252_ok = True
    offset = 0
    while chunk := stream.read(_CHUNK):
        if b"\x00" in chunk:
            stream.seek(start)
            return None, "unknown encoding: the file contains NUL bytes (binary, or UTF-16 without BOM)"
        final = len(chunk) < _CHUNK
        if utf8_ok:
            try:
                utf8.decode(chunk, final)
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok and cp1252_ok:
            try:
                cp1252.decode(chunk, final)
            except UnicodeDecodeError as exc:
                cp1252_ok = False
                bad = chunk[exc.start]
                stream.seek(start)
                return None, (
                    f"unknown encoding: neither UTF-8 nor Windows-1252 (byte 0x{bad:02X} at offset "
                    f"{offset + exc.start}); save the file as UTF-8"
                )
        offset += len(chunk)
    if utf8_ok:
        try:
            utf8.decode(b"", True)
        except UnicodeDecodeError:
            utf8_ok = False
    stream.seek(start)
    return ("utf-8" if utf8_ok else "cp1252"), None


def _sniff_delimiter(sample: str) -> str:
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            rows = list(itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 50))
        except csv.Error:
            continue
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (round(consistent, 2), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_rows(stream: IO[bytes], result: SampleReadResult) -> Iterator[tuple[int, list[str]]] | None:
    encoding, problem = detect_encoding(stream)
    if problem:
        result.problems.append(RowProblem(0, "", problem))
        return None
    result.encoding = encoding
    text = io.TextIOWrapper(stream, encoding=encoding or "utf-8", newline="")
    try:
        sample = text.read(_SNIFF_CHARS)
        sample += text.readline()
    except UnicodeDecodeError as exc:
        text.detach()
        result.problems.append(RowProblem(0, "", f"cannot decode the file as {encoding}: {exc.reason}"))
        return None
    first_line = sample.split("\n", 1)[0].strip("\r\ufeff")
    skip_hint = False
    if re.fullmatch(r"sep=.", first_line):
        delimiter = first_line[4]
        skip_hint = True
    else:
        delimiter = _sniff_delimiter(sample)
    result.delimiter = delimiter
    if encoding == "cp1252":
        result.notes.append(RowProblem(0, "", "the file is not UTF-8; read as Windows-1252"))
    lines = itertools.chain(io.StringIO(sample, newline=""), text)
    reader = csv.reader(lines, delimiter=delimiter)
    if skip_hint:
        next(reader, None)

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 0
        try:
            for number, row in enumerate(reader, start=1):
                yield number, row
        except (csv.Error, UnicodeDecodeError) as exc:
            result.problems.append(RowProblem(number + 1, "", f"cannot read this row: {exc}"))
        finally:
            text.detach()

    return rows()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e17 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_rows(stream: IO[bytes], result: SampleReadResult) -> Iterator[tuple[int, list[str]]] | None:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        result.problems.append(RowProblem(0, "", f"not an xlsx file ({type(exc).__name__}: {exc})"))
        return None
    if not workbook.worksheets:
        workbook.close()
        result.problems.append(RowProblem(0, "", "the workbook has no worksheet"))
        return None
    sheet = workbook.worksheets[0]

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    yield number, [_cell_text(v) for v in values]
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            result.problems.append(RowProblem(number + 1, "", f"cannot read this row: {exc}"))
        finally:
            workbook.close()

    return rows()


# --------------------------------------------------------------------------- values


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def _timezone(value: str) -> str | None:
    return _zones().get(value.strip().casefold())


def _country(value: str) -> str | None:
    text = value.strip()
    if text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    return _COUNTRY_NAMES.get(text.casefold())


def parse_consent(value: str, tz: str | None) -> dt.datetime | None:
    """ISO date/date-time (or DD.MM.YYYY [HH:MM[:SS]]) -> aware UTC datetime; None if unreadable.
    Values without offset are local time of ``tz`` (UTC when unknown); a date alone is the start
    of that day."""
    text = value.strip()
    zone = ZoneInfo(tz) if tz else dt.UTC
    moment: dt.datetime | None = None
    german = _GERMAN_DATE.match(text)
    try:
        if german:
            d, m, y, hh, mm, ss = german.groups()
            moment = dt.datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        elif len(text) <= 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0))
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _letter(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


# --------------------------------------------------------------------------- header


@dataclass
class _Layout:
    index: dict[str, int]  # our column -> position
    label: dict[str, str]  # our column -> name in the file
    fields: list[tuple[str, int]]  # sample fields (name, position)
    width: int  # named columns


def _layout(header: list[str], mapping: dict[str, str] | None, result: SampleReadResult) -> _Layout | None:
    names = [h.strip().lstrip("\ufeff").strip() for h in header]
    while names and not names[-1]:
        names.pop()
    result.columns = names
    if not names:
        result.problems.append(RowProblem(1, "", "no header row: the first row must name the columns"))
        return None
    targets = list(names)
    if mapping:
        lowered = {n.casefold(): i for i, n in enumerate(names)}
        for source, target in mapping.items():
            position = names.index(source) if source in names else lowered.get(str(source).strip().casefold())
            if position is None:
                result.problems.append(RowProblem(1, str(source), "column named in the mapping is not in the file"))
            elif not str(target).strip():
                result.problems.append(RowProblem(1, str(source), "the mapping gives no new name"))
            else:
                targets[position] = str(target).strip()
    index: dict[str, int] = {}
    label: dict[str, str] = {}
    fields: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for position, (original, target) in enumerate(zip(names, targets, strict=True)):
        if not target:
            result.notes.append(RowProblem(1, _letter(position), "column has no name and is ignored"))
            continue
        key = target.casefold()
        if key in seen:
            result.problems.append(RowProblem(
                1, original, f"column {target!r} appears twice (columns {_letter(seen[key])} and {_letter(position)})"
            ))
            continue
        seen[key] = position
        if key in RECOGNISED_COLUMNS:
            index[key] = position
            label[key] = original
        else:
            fields.append((target, position))
    if "phone" not in index:
        shown = ", ".join(names)
        result.problems.append(
            RowProblem(1, "phone", f"no phone column (columns: {shown}); name one 'phone' or map it with --map")
        )
        return None
    if any(p.row == 1 for p in result.problems):
        return None
    return _Layout(index, label, fields, len(names))


# --------------------------------------------------------------------------- rows


class _Validator:
    """Turns one row into a record or problems; keeps the file-wide id and number registers."""

    def __init__(self, layout: _Layout, default_region: str, result: SampleReadResult) -> None:
        self.layout = layout
        self.region = default_region
        self.result = result
        self.ids: dict[str, int] = {}
        self.numbers: dict[str, int] = {}
        ix = layout.index
        self.phone_cols = [(c, ix[c], layout.label[c]) for c in PHONE_COLUMNS if c in ix]
        self.present = [(c, ix[c]) for c in RECOGNISED_COLUMNS if c in ix and c not in PHONE_COLUMNS]

    def row(self, number: int, values: list[str]) -> ContactRecord | None:
        layout, problems, notes = self.layout, self.result.problems, self.result.notes
        before = len(problems)
        label = layout.label
        if len(values) < layout.width:
            values = values + [""] * (layout.width - len(values))
        cell = {c: values[p].strip() for c, p in self.present}
        extra = [v for v in values[layout.width :] if v.strip()] if len(values) > layout.width else None
        if extra:
            problems.append(
                RowProblem(number, _letter(layout.width), f"{len(extra)} value(s) beyond the last named column")
            )

        reference = cell.get("id", "") or None
        if reference is not None:
            first = self.ids.setdefault(reference, number)
            if first != number:
                problems.append(RowProblem(number, label["id"], f"duplicate id {reference!r} (first in row {first})"))

        phones: list[tuple[Phone, str]] = []
        for column, position, name in self.phone_cols:
            raw = values[position].strip()
            if not raw:
                if column == "phone":
                    problems.append(RowProblem(number, name, "missing phone number"))
                continue
            try:
                phone = normalise_phone(raw, self.region)
            except PhoneError as exc:
                reason = exc.reason
                if _SCIENTIFIC.match(raw):
                    reason = "number in scientific notation (Excel dropped digits); format the column as text"
                problems.append(RowProblem(number, name, f"{raw!r}: {reason}"))
                continue
            if any(p.e164 == phone.e164 for p, _ in phones):
                notes.append(RowProblem(number, name, f"{phone.e164} repeats a number of the same row; ignored"))
                continue
            phones.append((phone, name))

        primary = phones[0][0] if phones else None
        country_raw = cell.get("country", "")
        country = primary.region if primary is not None else None
        if country_raw:
            country = _country(country_raw)
            if country is None:
                problems.append(
                    RowProblem(number, label["country"], f"unknown country {country_raw!r} (use a code such as DE)")
                )

        tz_raw = cell.get("timezone", "")
        tz = None
        if tz_raw:
            tz = _timezone(tz_raw)
            if tz is None:
                problems.append(RowProblem(
                    number, label["timezone"], f"unknown time zone {tz_raw!r} (use an IANA name such as Europe/Berlin)"
                ))
        elif primary is not None:
            tz = primary.timezone
            if tz is None:
                problems.append(RowProblem(
                    number, phones[0][1], f"no time zone known for {primary.e164}; give one in a timezone column"
                ))
            elif primary.timezone_ambiguous:
                notes.append(RowProblem(number, phones[0][1], primary.timezone_note or ""))

        postcode = cell.get("postcode", "") or None
        if postcode and country == "DE" and len(postcode) == 4 and postcode.isdigit():
            notes.append(RowProblem(number, label["postcode"], f"postcode {postcode} read as 0{postcode}"))
            postcode = "0" + postcode
        state_raw = cell.get("state", "")
        state, state_source = None, None
        if state_raw:
            state = subdivision_code(country, state_raw)
            state_source = "column"
            if state is None:
                hint = "a code such as NW or a name such as Nordrhein-Westfalen" if (country or "DE") == "DE" else (
                    f"a subdivision code of {country}"
                )
                problems.append(RowProblem(number, label["state"], f"unknown state {state_raw!r} (use {hint})"))
        elif postcode and country == "DE":
            state = state_from_postcode(postcode)
            state_source = "postcode" if state else None

        person_raw = cell.get("person_type", "")
        person_type = None
        if person_raw:
            person_type = _PERSON_TYPES.get(person_raw.casefold())
            if person_type is None:
                problems.append(RowProblem(
                    number, label["person_type"], f"person_type must be private or business, got {person_raw!r}"
                ))

        customer_raw = cell.get("customer", "")
        customer = customer_raw.casefold() in _YES
        if not customer and customer_raw.casefold() not in _NO:
            problems.append(RowProblem(number, label["customer"], f"customer must be yes or no, got {customer_raw!r}"))

        consent_raw = cell.get("consent_at", "")
        consent_at = None
        if consent_raw:
            consent_at = parse_consent(consent_raw, tz)
            if consent_at is None:
                problems.append(RowProblem(
                    number, label["consent_at"],
                    f"{consent_raw!r} is not a date (use ISO such as 2024-05-01 or 2024-05-01T14:30)",
                ))

        if len(problems) > before:
            return None
        for phone, name in phones:
            first = self.numbers.get(phone.e164)
            if first is not None:
                self.result.duplicates.append(Duplicate(number, first, phone.e164, name))
                return None
        for phone, _ in phones:
            self.numbers[phone.e164] = number
        fields = {name: values[p].strip() for name, p in layout.fields}
        return ContactRecord(
            row=number,
            reference=reference,
            phones=tuple(p for p, _ in phones),
            name=cell.get("name", "") or None,
            state=state,
            postcode=postcode,
            country=country,
            timezone=tz,
            person_type=person_type,
            customer=customer,
            consent_at=consent_at,
            consent_source=cell.get("consent_source", "") or None,
            language=cell.get("language", "") or None,
            fields=fields,
            state_source=state_source,
        )


# --------------------------------------------------------------------------- entry point


def parse_column_map(text: str, source: str) -> dict[str, str]:
    """A column mapping file (``--map MAP.yaml``, or uploaded beside a sample): YAML mapping file
    column names to ours, e.g. ``Telefon: phone``, read by the questionnaires' YAML rules (a
    column given twice is an error). ValueError says what is wrong, as ``FILE:LINE:COL: ...``
    where it can."""
    from cati.questionnaires.errors import QuestionnaireError
    from cati.questionnaires.yamlload import load_data

    try:
        data = load_data(text, source, mapping=True)
    except QuestionnaireError as exc:
        raise ValueError("\n".join(str(p) for p in exc.problems)) from None
    return column_map(data, source)


def column_map(data: object, source: str) -> dict[str, str]:
    """``data`` read from a column mapping file, checked: file column names to our names."""
    if not isinstance(data, dict) or not data or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{source}: expected a mapping of file column names to our column names, "
                         "e.g. 'Telefon: phone'")
    return {str(k): v for k, v in data.items()}


def read_sample(
    source: str | os.PathLike[str] | bytes | IO[bytes] | IO[str],
    *,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_region: str = "DE",
    progress: Callable[[int], None] | None = None,
    on_record: Callable[[ContactRecord], None] | None = None,
    into: SampleReadResult | None = None,
) -> SampleReadResult:
    """Read and validate a sample file.

    ``source`` is a path, bytes or an open file; ``filename`` (its name as uploaded) decides CSV
    vs XLSX together with the file's first bytes. ``mapping`` renames file columns to ours.
    ``progress(rows_done)`` is called every 1,000 rows and at the end. With ``on_record`` each
    valid record is handed over as it is read and ``records`` stays empty (for very large files).
    ``into`` is the result to fill (and return): a streaming caller can look at its ``columns``
    and ``problems`` so far from ``on_record``.
    """
    result = into if into is not None else SampleReadResult()
    stream, owned, problem = _open_binary(source)
    if stream is None:
        result.problems.append(RowProblem(0, "", problem or "cannot read the file"))
        return result
    # The records hold no reference cycles; the cyclic collector would only re-scan the growing
    # list again and again (halving throughput at 1,000,000 rows), so it pauses while reading.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _read(stream, filename, mapping, default_region, progress, on_record, result)
    finally:
        if collecting:
            gc.enable()
        if owned:
            stream.close()
    return result


def _read(
    stream: IO[bytes],
    filename: str,
    mapping: dict[str, str] | None,
    default_region: str,
    progress: Callable[[int], None] | None,
    on_record: Callable[[ContactRecord], None] | None,
    result: SampleReadResult,
) -> None:
    start = stream.tell()
    magic = stream.read(8)
    stream.seek(start)
    lower = filename.lower()
    if not magic:
        result.problems.append(RowProblem(0, "", "the file is empty"))
        return
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        result.problems.append(RowProblem(0, "", "old Excel format (.xls) is not supported; save as .xlsx or CSV"))
        return
    is_zip = magic.startswith(b"PK\x03\x04")
    if lower.endswith((".xlsx", ".xlsm")) and not is_zip:
        result.problems.append(RowProblem(0, "", "not an xlsx file (it is not a zip archive); is it a CSV file?"))
        return
    if is_zip:
        result.format = "xlsx"
        rows = _xlsx_rows(stream, result)
    else:
        result.format = "csv"
        rows = _csv_rows(stream, result)
    if rows is None:
        return
    header: list[str] | None = None
    for number, values in rows:
        if any(v.strip() for v in values):
            header = values
            if number != 1:
                result.notes.append(RowProblem(number, "", f"header found in row {number}; rows above it are empty"))
            break
    if header is None:
        if not result.problems:
            result.problems.append(RowProblem(0, "", "the file is empty (no header row)"))
        return
    layout = _layout(header, mapping, result)
    if layout is None:
        rows.close()  # type: ignore[attr-defined]
        return
    validator = _Validator(layout, default_region, result)
    done = 0
    for number, values in rows:
        if not any(v.strip() for v in values):
            continue
        record = validator.row(number, values)
        done += 1
        if record is not None:
            result.valid += 1
            if on_record is not None:
                on_record(record)
            else:
                result.records.append(record)
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    result.rows = done
    if progress is not None:
        progress(done)
    if done == 0 and not result.problems:
        result.problems.append(RowProblem(0, "", "the file has a header but no data rows"))
