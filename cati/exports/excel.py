"""Excel export (.xlsx) with openpyxl in write-only mode (constant memory; lxml makes it faster).

Sheets (German names by default, English with ``language="en"``):

* ``Daten`` / ``Data``: one row per interview, one column per variable, header row of variable
  names (frozen). Codes as numbers, specials (don't know, refused, ...) as their codes,
  system-missing (not asked) as an empty cell, dates and timestamps as real Excel dates.
* ``Daten_Labels`` / ``Data_Labels`` (optional, ``labels=True``): the same with value labels
  instead of codes wherever a code has a label.
* ``Codebuch`` / ``Codebook``: one row per variable: name, label, question text, type, SPSS
  format, measurement level, width, value labels (``1 = ja; 2 = nein``), missing codes,
  multiple-response set, filter condition, questionnaire versions.
* ``Info``: study, title, questionnaire, versions, export time, filters, counts, notes.

Excel has no user-missing values: the codebook lists which codes are specials. Excel's limits
(1,048,576 rows, 16,384 columns, 32,767 characters per cell) are checked before anything is
written; :class:`ExcelLimitError` names what does not fit. Text that Excel would take for a
formula (``=…``) or an error code (``#N/A``) is written as text; control characters that XML
cannot hold are removed from the Excel file only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font

from cati.questionnaires.model import ExportVariable

from .dataset import Dataset, ExportError, mr_sets

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_CELL_CHARS = 32_767

SHEETS = {
    "de": {"data": "Daten", "labels": "Daten_Labels", "codebook": "Codebuch", "info": "Info"},
    "en": {"data": "Data", "labels": "Data_Labels", "codebook": "Codebook", "info": "Info"},
}
DATE_FORMATS = {
    "de": ("DD.MM.YYYY", "DD.MM.YYYY HH:MM:SS"),
    "en": ("YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS"),
}
_TEXT = {
    "de": {
        "codebook_header": (
            "Variable",
            "Label",
            "Fragetext",
            "Typ",
            "Format",
            "Messniveau",
            "Breite",
            "Wertelabels",
            "Fehlende Werte (Sondercodes)",
            "Mehrfachantworten-Set",
            "Filter (show_if)",
            "Versionen",
        ),
        "pii": "personenbezogen",
        "types": {"numeric": "numerisch", "string": "Text", "date": "Datum", "datetime": "Datum und Uhrzeit"},
        "measures": {"nominal": "nominal", "ordinal": "ordinal", "scale": "metrisch"},
        "study": "Studie",
        "title": "Titel",
        "questionnaire": "Fragebogen",
        "versions": "Fragebogenversionen",
        "exported_at": "Exportiert am",
        "filter": "Filter",
        "rows": "Fälle",
        "variables": "Variablen",
        "timestamps": "Zeitstempel",
        "local_time": "Ortszeit des Servers, wie erfasst (ohne Zeitzone)",
        "converted": "umgerechnet in die Zeitzone {zone}",
        "missing": "Fehlende Werte",
        "missing_text": "Leere Zelle = nicht gefragt (systemfehlend). Sondercodes wie 98 = weiß nicht, "
        "99 = keine Angabe stehen als Zahl in der Zelle; welche Codes Sondercodes sind, steht im Codebuch.",
        "multi": "Mehrfachnennungen",
        "multi_text": "Eine 0/1-Variable je Antwortmöglichkeit (Q_1, Q_2, …); 1 = genannt, 0 = nicht genannt, "
        "leer = nicht gefragt.",
        "excluded": "Nicht exportiert (personenbezogen)",
        "note": "Hinweis",
        "truncated": " … (gekürzt)",
    },
    "en": {
        "codebook_header": (
            "Variable",
            "Label",
            "Question text",
            "Type",
            "Format",
            "Measure",
            "Width",
            "Value labels",
            "Missing values (special codes)",
            "Multiple response set",
            "Filter (show_if)",
            "Versions",
        ),
        "pii": "personal data",
        "types": {"numeric": "numeric", "string": "text", "date": "date", "datetime": "date and time"},
        "measures": {"nominal": "nominal", "ordinal": "ordinal", "scale": "scale"},
        "study": "Study",
        "title": "Title",
        "questionnaire": "Questionnaire",
        "versions": "Questionnaire versions",
        "exported_at": "Exported at",
        "filter": "Filter",
        "rows": "Cases",
        "variables": "Variables",
        "timestamps": "Timestamps",
        "local_time": "server local time as recorded (no time zone)",
        "converted": "converted to the time zone {zone}",
        "missing": "Missing values",
        "missing_text": "Empty cell = not asked (system-missing). Special codes such as 98 = don't know, "
        "99 = refused are numbers in the cell; the codebook lists which codes are specials.",
        "multi": "Multiple answers",
        "multi_text": "One 0/1 variable per answer option (Q_1, Q_2, …); 1 = selected, 0 = not selected, "
        "empty = not asked.",
        "excluded": "Not exported (personal data)",
        "note": "Note",
        "truncated": " … (truncated)",
    },
}


class ExcelLimitError(ExportError):
    """The dataset does not fit into an Excel worksheet."""


def write_xlsx(dataset: Dataset, path: str | Path, *, labels: bool = False, language: str | None = None) -> Path:
    """Write ``dataset`` as an .xlsx workbook (see the module docs). Returns the path."""
    path = Path(path)
    language = language or dataset.info.language
    if language not in SHEETS:
        language = "en"
    check_limits(dataset)
    names = SHEETS[language]
    workbook = Workbook(write_only=True)
    try:
        _data_sheet(workbook, names["data"], dataset, language, labels=False)
        if labels:
            _data_sheet(workbook, names["labels"], dataset, language, labels=True)
        _codebook_sheet(workbook, names["codebook"], dataset, language)
        _info_sheet(workbook, names["info"], dataset, language)
        workbook.save(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def check_limits(dataset: Dataset) -> None:
    """Raise :class:`ExcelLimitError` when the data cannot be an Excel sheet."""
    if dataset.n_rows + 1 > MAX_ROWS:
        raise ExcelLimitError(
            f"{dataset.n_rows:,} interviews do not fit into an Excel sheet (at most {MAX_ROWS - 1:,} rows "
            "below the header); export SPSS or CSV, or select fewer interviews"
        )
    if len(dataset.variables) > MAX_COLUMNS:
        raise ExcelLimitError(
            f"{len(dataset.variables):,} variables do not fit into an Excel sheet (at most {MAX_COLUMNS:,} "
            "columns); export SPSS or CSV"
        )
    for i, v in enumerate(dataset.variables):
        if v.spss_type != "string":
            continue
        values = dataset.frame.iloc[:, i].to_numpy()
        longest = max((len(x) for x in values if isinstance(x, str)), default=0)
        if longest > MAX_CELL_CHARS:
            row = next(n for n, x in enumerate(values) if isinstance(x, str) and len(x) == longest)
            raise ExcelLimitError(
                f"{v.name}: a text of {longest:,} characters (row {row + 1}) is longer than an Excel cell allows "
                f"({MAX_CELL_CHARS:,}); export SPSS or CSV"
            )


def _data_sheet(workbook: Workbook, title: str, dataset: Dataset, language: str, *, labels: bool) -> None:
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in dataset.names:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    date_format, datetime_format = DATE_FORMATS[language]
    stamps: dict[int, WriteOnlyCell] = {}
    texts: list[int] = []
    for i, v in enumerate(dataset.variables):
        if v.spss_type in ("date", "datetime"):
            cell = WriteOnlyCell(sheet)
            cell.number_format = date_format if v.spss_type == "date" else datetime_format
            stamps[i] = cell
        elif v.spss_type == "string" or (labels and v.value_labels):
            texts.append(i)
    text_cells = {i: WriteOnlyCell(sheet) for i in texts}
    append = sheet.append
    stamp_items = list(stamps.items())
    for row in dataset.iter_rows(labels=labels):
        for i, cell in stamp_items:
            value = row[i]
            if isinstance(value, dt.date):
                cell.value = value
                row[i] = cell
        for i in texts:
            value = row[i]
            if value.__class__ is str and value and (value[0] in "=#" or ILLEGAL_CHARACTERS_RE.search(value)):
                cell = text_cells[i]
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell.data_type = "s"
                row[i] = cell
        append(row)


def _codebook_sheet(workbook: Workbook, title: str, dataset: Dataset, language: str) -> None:
    text = _TEXT[language]
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "B2"
    for letter, width in zip("ABCDEFGHIJKL", (18, 50, 50, 12, 10, 11, 7, 60, 18, 14, 30, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    header = list(text["codebook_header"])
    include_pii = any(v.pii for v in dataset.variables)
    if include_pii:
        header.append(text["pii"].capitalize())
    bold = Font(bold=True)
    cells = []
    for value in header:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in codebook_rows(dataset, language):
        if not include_pii:
            row = row[:-1]
        out = []
        for value in row:
            if isinstance(value, str):
                value = _cell_text(value, text["truncated"])
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                if len(value) > 40:
                    cell.alignment = wrap
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)


def codebook_rows(dataset: Dataset, language: str = "de") -> Iterator[list[Any]]:
    """One row per variable, as in the ``Codebuch`` sheet (the last column is the pii flag)."""
    text = _TEXT.get(language, _TEXT["en"])
    sets = {name: s for s in mr_sets(dataset.variables) for name in s.variables}
    for v in dataset.variables:
        mr = sets.get(v.name)
        yield [
            v.name,
            v.label,
            v.text or "",
            text["types"].get(v.spss_type, v.spss_type),
            v.spss_format,
            text["measures"].get(v.measure, v.measure),
            v.width if v.spss_type == "string" else None,
            value_labels_text(v),
            "; ".join(str(c) for c in v.missing),
            f"{mr.name} ({mr.label})" if mr else "",
            v.show_if or "",
            ", ".join(map(str, dataset.versions.get(v.name, ()))),
            text["pii"] if v.pii else "",
        ]


def value_labels_text(variable: ExportVariable) -> str:
    """``1 = ja; 2 = nein`` (specials included)."""
    return "; ".join(f"{code} = {label}" for code, label in variable.value_labels.items())


def _info_sheet(workbook: Workbook, title: str, dataset: Dataset, language: str) -> None:
    sheet = workbook.create_sheet(title)
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 100
    bold = Font(bold=True)
    for key, value in info_rows(dataset, language):
        cell = WriteOnlyCell(sheet, value=key)
        cell.font = bold
        if isinstance(value, dt.datetime):
            value_cell = WriteOnlyCell(sheet, value=value)
            value_cell.number_format = DATE_FORMATS[language][1]
        else:
            value_cell = WriteOnlyCell(sheet, value=value if not isinstance(value, str) else _cell_text(value, ""))
            if isinstance(value, str):
                value_cell.data_type = "s"
        sheet.append([cell, value_cell])


def info_rows(dataset: Dataset, language: str = "de") -> list[tuple[str, Any]]:
    """The ``Info`` sheet as (key, value) pairs."""
    text = _TEXT.get(language, _TEXT["en"])
    info = dataset.info
    rows: list[tuple[str, Any]] = []
    if info.study:
        rows.append((text["study"], info.study))
    if info.title:
        rows.append((text["title"], info.title))
    if info.questionnaire_id:
        rows.append((text["questionnaire"], info.questionnaire_id))
    if info.versions:
        rows.append((text["versions"], ", ".join(map(str, info.versions))))
    if info.exported_at:
        rows.append((text["exported_at"], info.exported_at.replace(tzinfo=None)))
    for key, value in info.filters.items():
        rows.append((f"{text['filter']}: {key}", value))
    rows.append((text["rows"], dataset.n_rows))
    rows.append((text["variables"], len(dataset.variables)))
    zone = text["converted"].format(zone=info.timezone) if info.timezone else text["local_time"]
    rows.append((text["timestamps"], zone))
    rows.append((text["missing"], text["missing_text"]))
    rows.append((text["multi"], text["multi_text"]))
    if info.excluded:
        rows.append((text["excluded"], ", ".join(info.excluded)))
    for key, value in info.extra.items():
        rows.append((key, value))
    for note in info.notes:
        rows.append((text["note"], note))
    return rows


def _cell_text(value: str, marker: str) -> str:
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - len(marker)] + marker
    return value


__all__ = ["ExcelLimitError", "check_limits", "codebook_rows", "info_rows", "write_xlsx"]
