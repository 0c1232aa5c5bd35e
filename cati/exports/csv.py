"""CSV export: the data as UTF-8 CSV plus a codebook (two more CSV files).

Files, for ``write_csv(dataset, "study.csv")``:

* ``study.csv``: header row of variable names, one row per interview. Codes as numbers, specials
  as their codes, system-missing as an empty field, decimals with a point, dates as
  ``YYYY-MM-DD``, timestamps as ``YYYY-MM-DD HH:MM:SS`` (local time, see the Info of the export).
  Fields are quoted only when needed (RFC 4180); text is written exactly as entered.
* ``study_codebook.csv``: one row per variable (name, label, type, format, measure, width, value
  labels as ``1 = ja; 2 = nein``, missing codes, multiple-response set, question id and text,
  filter, versions, personal data flag).
* ``study_values.csv``: the value labels in long form (variable, code, label, missing 0/1),
  unambiguous for programs (a label may contain ``;`` or ``=``).

``bom=True`` writes a UTF-8 byte-order mark, which makes Excel detect UTF-8 when the CSV is
opened by double click; ``delimiter=";"`` suits German Excel, and ``decimal=","`` too: with
German regional settings Excel takes ``2.5`` for a date (2 May). :data:`EXCEL` is that variant
(``write_csv(dataset, path, **EXCEL)``); the codebook files are written the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .dataset import Dataset, mr_sets

CODEBOOK_COLUMNS = (
    "name",
    "label",
    "type",
    "format",
    "measure",
    "width",
    "value_labels",
    "missing",
    "mr_set",
    "mr_set_label",
    "question_id",
    "question_text",
    "show_if",
    "versions",
    "pii",
)
VALUE_COLUMNS = ("name", "code", "label", "missing")
#: The CSV variant for Excel with German regional settings (double click opens it correctly).
EXCEL: dict[str, Any] = {"delimiter": ";", "decimal": ",", "bom": True}


def write_csv(
    dataset: Dataset,
    path: str | Path,
    *,
    codebook: bool = True,
    delimiter: str = ",",
    bom: bool = False,
    decimal: str = ".",
    labels: bool = False,
) -> list[Path]:
    """Write the data (and, unless ``codebook=False``, the two codebook files). ``labels=True``
    writes value labels instead of codes; ``decimal`` is the decimal separator of numbers with
    decimals. Returns the paths written."""
    path = Path(path)
    encoding = "utf-8-sig" if bom else "utf-8"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(dataset.names)
        writer.writerows(_text_rows(dataset, labels=labels, decimal=decimal))
    written = [path]
    if codebook:
        written.extend(write_codebook(dataset, path, delimiter=delimiter, encoding=encoding))
    return written


def _text_rows(dataset: Dataset, *, labels: bool, decimal: str = ".") -> Iterable[list[Any]]:
    stamps = [i for i, v in enumerate(dataset.variables) if v.spss_type in ("date", "datetime")]
    numbers = [i for i, v in enumerate(dataset.variables) if v.spss_type == "numeric"] if decimal != "." else []
    for row in dataset.iter_rows(labels=labels):
        for i in stamps:
            value = row[i]
            if isinstance(value, dt.datetime):
                row[i] = value.isoformat(sep=" ", timespec="seconds")
            elif isinstance(value, dt.date):
                row[i] = value.isoformat()
        for i in numbers:
            value = row[i]
            if value.__class__ is float:  # whole numbers are ints already (Dataset.iter_rows)
                row[i] = repr(value).replace(".", decimal)
        yield row


def codebook_paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    return path.with_name(f"{path.stem}_codebook.csv"), path.with_name(f"{path.stem}_values.csv")


def write_codebook(dataset: Dataset, path: str | Path, *, delimiter: str = ",", encoding: str = "utf-8") -> list[Path]:
    """``<stem>_codebook.csv`` and ``<stem>_values.csv`` beside ``path``."""
    codebook_path, values_path = codebook_paths(path)
    sets = {name: s for s in mr_sets(dataset.variables) for name in s.variables}
    with codebook_path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(CODEBOOK_COLUMNS)
        for v in dataset.variables:
            mr = sets.get(v.name)
            writer.writerow(
                [
                    v.name,
                    v.label,
                    v.spss_type,
                    v.spss_format,
                    v.measure,
                    v.width if v.spss_type == "string" else "",
                    "; ".join(f"{code} = {label}" for code, label in v.value_labels.items()),
                    " ".join(str(c) for c in v.missing),
                    mr.name if mr else "",
                    mr.label if mr else "",
                    v.question_id or "",
                    v.text or "",
                    v.show_if or "",
                    " ".join(map(str, dataset.versions.get(v.name, ()))),
                    1 if v.pii else 0,
                ]
            )
    with values_path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(VALUE_COLUMNS)
        for v in dataset.variables:
            for code, label in v.value_labels.items():
                writer.writerow([v.name, code, label, 1 if code in v.missing else 0])
    return [codebook_path, values_path]


__all__ = ["CODEBOOK_COLUMNS", "EXCEL", "VALUE_COLUMNS", "codebook_paths", "write_codebook", "write_csv"]
