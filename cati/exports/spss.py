"""SPSS export: a .sav (row-compressed by default) or .zsav through pyreadstat, plus a .sps syntax file.

What pyreadstat writes into the .sav: variable names, labels, value labels, formats (``F2.0``,
``A80``, ``EDATE10``, ``DATETIME20``), measurement levels, display widths, user-missing values
(the specials DK/REF/NA as up to three discrete codes), system-missing for off-route answers,
the file label (the study title) and documents (export information and version-union notes).

What it cannot write are multiple-response sets (ReadStat has no writer for them), so every .sav
comes with a .sps file beside it: ``MRSETS /MDGROUP`` for each multi question, ``VARIABLE
LEVEL``, ``MISSING VALUES`` and ``VALUE LABELS`` (repeating what the .sav already holds, so the
syntax also restores them after a merge), and a ``SAVE`` that writes the file back with the sets
embedded. :func:`embed_mr_sets` runs that syntax through GNU PSPP when it is installed.

Missing values of long strings (text questions with don't-know, width > 8 bytes) are declared in
the .sps only: the .sav record for them (subtype 22) is laid out differently by ReadStat and by
PSPP (which warns "record ends unexpectedly" and drops them), so it is left out of the .sav.

String width: pyreadstat sizes a string variable by its longest value, so one value of each
string column is padded with blanks to the declared byte width (readers strip trailing blanks);
every wave of a study then has the same ``A<width>``. Dates and timestamps are written as SPSS
numbers (seconds since 14 Oct 1582) with a date format, which also lets a date variable hold the
numeric code of a special. Nothing is copied except those few columns: peak memory stays close
to the dataset itself.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyreadstat

from cati.questionnaires.model import ExportVariable

from .dataset import Dataset, ExportError, mr_sets, parse_format

Compression = Literal["rows", "zlib", "none"]

SPSS_EPOCH = dt.datetime(1582, 10, 14)
_UNIX_OFFSET = 12219379200  # seconds from 1582-10-14 to 1970-01-01
MAX_LABEL_BYTES = 256
MAX_VALUE_LABEL_BYTES = 120
MAX_FILE_LABEL_BYTES = 64
MAX_DOCUMENT_BYTES = 80
MAX_STRING_MISSING_BYTES = 8

_LEVELS = {"nominal": "NOMINAL", "ordinal": "ORDINAL", "scale": "SCALE"}


def write_sav(
    dataset: Dataset,
    path: str | Path,
    *,
    compress: Compression = "rows",
    sps: bool = True,
) -> list[Path]:
    """Write ``dataset`` to ``path`` (.sav, or .zsav with ``compress="zlib"``) and, unless
    ``sps=False``, the syntax file ``<path>.sps`` beside it. Returns the paths written."""
    path = Path(path)
    if compress not in ("rows", "zlib", "none"):
        raise ExportError(f"compress must be 'rows', 'zlib' or 'none', not {compress!r}")
    frame = sav_frame(dataset)
    pyreadstat.write_sav(
        frame,
        str(path),
        compress=compress == "zlib",
        row_compress=compress == "rows",
        **sav_metadata(dataset),
    )
    written = [path]
    if sps:
        written.append(write_sps(dataset, path.with_suffix(".sps"), data_file=path.name, compress=compress))
    return written


def sav_metadata(dataset: Dataset) -> dict[str, Any]:
    """The keyword arguments for ``pyreadstat.write_sav`` describing ``dataset``'s variables."""
    labels: dict[str, str | None] = {}
    value_labels: dict[str, dict[int | float, str]] = {}
    missing: dict[str, list[Any]] = {}
    measure: dict[str, str] = {}
    formats: dict[str, str] = {}
    widths: dict[str, int] = {}
    for v in dataset.variables:
        labels[v.name] = clip(v.label, MAX_LABEL_BYTES) or None
        measure[v.name] = v.measure
        formats[v.name] = v.spss_format
        widths[v.name] = display_width(v)
        if v.value_labels and v.spss_type != "string":
            value_labels[v.name] = {code: clip(label, MAX_VALUE_LABEL_BYTES) for code, label in v.value_labels.items()}
        codes = missing_codes(v)
        if codes and not (v.spss_type == "string" and (v.width or 0) > MAX_STRING_MISSING_BYTES):
            missing[v.name] = codes
    return {
        "file_label": clip(dataset.info.title or dataset.info.study, MAX_FILE_LABEL_BYTES),
        "column_labels": labels,
        "variable_value_labels": value_labels,
        "missing_ranges": missing,
        "variable_measure": measure,
        "variable_format": formats,
        "variable_display_width": widths,
        "note": documents(dataset),
    }


def missing_codes(variable: ExportVariable) -> list[Any]:
    """The user-missing values as pyreadstat wants them: at most three discrete values."""
    if not variable.missing:
        return []
    if len(variable.missing) > 3:
        raise ExportError(f"{variable.name}: SPSS allows at most three discrete missing values")
    if variable.spss_type == "string":
        return [str(c) for c in variable.missing if len(str(c).encode()) <= MAX_STRING_MISSING_BYTES]
    return [int(c) if float(c).is_integer() else float(c) for c in variable.missing]


def display_width(variable: ExportVariable) -> int:
    if variable.spss_type == "string":
        return max(1, min(variable.width or 8, 40))
    if variable.spss_type == "datetime":
        return 20
    if variable.spss_type == "date":
        return 10
    return max(parse_format(variable.spss_format)[1], 5)


def documents(dataset: Dataset) -> list[str]:
    """Export information and notes as SPSS document lines (at most 80 bytes each)."""
    info = dataset.info
    de = info.language == "de"
    lines = [
        ("Export aus cati" if de else "Exported by cati")
        + (f": {info.study}" if info.study else "")
        + (f" ({info.questionnaire_id})" if info.questionnaire_id else ""),
    ]
    if info.versions:
        lines.append(
            ("Fragebogenversionen: " if de else "Questionnaire versions: ") + ", ".join(map(str, info.versions))
        )
    if info.exported_at:
        lines.append(("Exportiert: " if de else "Exported: ") + info.exported_at.isoformat(timespec="seconds"))
    for key, value in info.filters.items():
        lines.append(f"{key}: {value}")
    lines.extend(info.notes)
    out: list[str] = []
    for line in lines:
        out.extend(_wrap_bytes(line, MAX_DOCUMENT_BYTES))
    return out


def sav_frame(dataset: Dataset) -> pd.DataFrame:
    """The frame pyreadstat writes: the dataset's own columns, except dates/timestamps as SPSS
    numbers and string columns whose first value is padded to the declared width."""
    columns: dict[str, Any] = {}
    for i, v in enumerate(dataset.variables):
        series = dataset.frame.iloc[:, i]
        if v.spss_type in ("date", "datetime"):
            columns[v.name] = spss_seconds(series)
        elif v.spss_type == "string" and len(series):
            values = series.to_numpy(dtype=object, copy=True)  # a copy of the pointers only
            width = v.width or 1
            first = values[0]
            text = "" if first is None or (isinstance(first, float) and np.isnan(first)) else str(first)
            values[0] = text + " " * max(0, width - len(text.encode("utf-8")))
            columns[v.name] = pd.Series(values, dtype=object, copy=False)
        else:
            columns[v.name] = series.array if isinstance(series.array, pd.arrays.IntegerArray) else series
    return pd.DataFrame(columns, copy=False)


def spss_seconds(series: pd.Series) -> np.ndarray:
    """Seconds since 14 Oct 1582 (SPSS dates) as float64; NaN for missing; codes stay codes."""
    if series.dtype.kind == "M":
        values = series.to_numpy().astype("datetime64[s]")
        seconds = values.astype(np.int64).astype(np.float64) + _UNIX_OFFSET
        seconds[np.isnat(values)] = np.nan
        return seconds
    out = np.full(len(series), np.nan)
    for i, value in enumerate(series.to_numpy()):
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            out[i] = (value - SPSS_EPOCH).total_seconds()
        elif isinstance(value, dt.date):
            out[i] = (value - SPSS_EPOCH.date()).days * 86400.0
        else:
            out[i] = float(value)  # a special's code
    return out


# --------------------------------------------------------------------------- syntax


def write_sps(
    dataset: Dataset, path: str | Path, *, data_file: str = "export.sav", compress: Compression = "rows"
) -> Path:
    """Write the SPSS syntax file for ``dataset`` (see the module docs); UTF-8 with BOM."""
    path = Path(path)
    path.write_text(sps_text(dataset, data_file=data_file, compress=compress), encoding="utf-8-sig", newline="\n")
    return path


def sps_text(dataset: Dataset, *, data_file: str = "export.sav", compress: Compression = "rows") -> str:
    info = dataset.info
    de = info.language == "de"
    out: list[str] = ["* Encoding: UTF-8."]
    header = [
        f"cati {'Export' if de else 'export'}: {info.title or info.study or info.questionnaire_id}",
        *documents(dataset),
        (
            "Im Ordner der Datendatei ausführen (oder den Pfad bei GET FILE anpassen)."
            if de
            else "Run this in the folder of the data file (or change the path after GET FILE)."
        ),
        (
            "Setzt Mehrfachantworten-Sets, Messniveaus, fehlende Werte und Wertelabels"
            if de
            else "Sets multiple response sets, measurement levels, missing values and value labels,"
        ),
        (
            "und speichert die Datei mit den eingebetteten Sets."
            if de
            else "then saves the file with the sets embedded."
        ),
    ]
    for line in header:
        out.extend(_comment(piece) for piece in _wrap_bytes(" ".join(line.split()), 200))
    out.append(f"GET FILE={quote(data_file)}.")
    out.extend(_variable_level(dataset.variables))
    out.extend(_missing_values(dataset.variables))
    out.extend(_value_labels(dataset.variables))
    out.extend(_mrsets(dataset.variables))
    keyword = {"rows": " /COMPRESSED", "zlib": " /ZCOMPRESSED", "none": " /UNCOMPRESSED"}[compress]
    out.append(f"SAVE OUTFILE={quote(data_file)}{keyword}.")
    out.append("EXECUTE.")
    return "\n".join(out) + "\n"


def _comment(text: str) -> str:
    """One comment line (a comment ends at the first line that ends with a period)."""
    return f"* {' '.join(text.split()).rstrip('.')}."


def quote(text: str) -> str:
    """An SPSS string literal; long ones are split into ``'…' + '…'`` pieces."""
    pieces = _wrap_bytes(text, 100) or [""]
    return " +\n  ".join("'" + piece.replace("'", "''") + "'" for piece in pieces)


def _command(keyword: str, groups: Iterable[str]) -> list[str]:
    """``keyword group /group /group.`` with one group per line."""
    groups = list(groups)
    if not groups:
        return []
    lines = [f"{keyword} {groups[0]}"]
    lines.extend(f"  /{group}" for group in groups[1:])
    lines[-1] += "."
    return lines


def _names(names: Iterable[str]) -> str:
    """Variable names, wrapped so that no line gets longer than about 100 characters."""
    lines: list[str] = []
    current = ""
    for name in names:
        if current and len(current) + len(name) + 1 > 100:
            lines.append(current)
            current = name
        else:
            current = f"{current} {name}" if current else name
    lines.append(current)
    return "\n    ".join(lines)


def _grouped(variables: Iterable[ExportVariable], key: Any) -> dict[Any, list[str]]:
    groups: dict[Any, list[str]] = {}
    for v in variables:
        k = key(v)
        if k is not None:
            groups.setdefault(k, []).append(v.name)
    return groups


def _variable_level(variables: Iterable[ExportVariable]) -> list[str]:
    groups = _grouped(variables, lambda v: _LEVELS.get(v.measure))
    return _command("VARIABLE LEVEL", (f"{_names(names)} ({level})" for level, names in groups.items()))


def _missing_values(variables: Iterable[ExportVariable]) -> list[str]:
    def key(v: ExportVariable) -> tuple[str, ...] | None:
        codes = missing_codes(v)
        if not codes:
            return None
        if v.spss_type == "string":
            return tuple(quote(c) for c in codes)
        return tuple(_number(c) for c in codes)

    groups = _grouped(variables, key)
    return _command("MISSING VALUES", (f"{_names(names)} ({', '.join(codes)})" for codes, names in groups.items()))


def _value_labels(variables: Iterable[ExportVariable]) -> list[str]:
    def key(v: ExportVariable) -> tuple[tuple[Any, str], ...] | None:
        if not v.value_labels or v.spss_type == "string":
            return None
        return tuple((code, clip(label, MAX_VALUE_LABEL_BYTES)) for code, label in v.value_labels.items())

    groups = _grouped(variables, key)
    blocks = []
    for labels, names in groups.items():
        pairs = "\n    ".join(f"{_number(code)} {quote(label)}" for code, label in labels)
        blocks.append(f"{_names(names)}\n    {pairs}")
    return _command("VALUE LABELS", blocks)


def _mrsets(variables: Iterable[ExportVariable]) -> list[str]:
    groups = []
    for s in mr_sets(variables):
        groups.append(
            f"MDGROUP NAME={s.name} LABEL={quote(clip(s.label, MAX_LABEL_BYTES))}\n"
            f"    CATEGORYLABELS=VARLABELS VARIABLES={_names(s.variables)} VALUE={s.counted_value}"
        )
    if not groups:
        return []
    lines = ["MRSETS", *(f"  /{group}" for group in groups)]
    lines[-1] += "."
    return lines


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


# --------------------------------------------------------------------------- helpers


def clip(text: str | None, limit: int) -> str:
    """``text`` cut at a character boundary to at most ``limit`` UTF-8 bytes."""
    if not text:
        return ""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _wrap_bytes(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, broken at spaces where possible."""
    pieces: list[str] = []
    rest = text
    while rest:
        if len(rest.encode("utf-8")) <= limit:
            pieces.append(rest)
            break
        head = clip(rest, limit)
        cut = head.rfind(" ")
        if cut > limit // 2:
            head = head[: cut + 1]
        pieces.append(head)
        rest = rest[len(head) :]
    return pieces


def embed_mr_sets(
    sav_path: str | Path, sps_path: str | Path | None = None, *, pspp: str = "pspp", timeout: float = 600
) -> bool:
    """Run the .sps beside ``sav_path`` through GNU PSPP, which saves the .sav again with the
    multiple-response sets embedded. Returns False (and changes nothing) when PSPP is not
    installed. Use it for row-compressed .sav only: PSPP 1.6 mis-reads large .zsav files."""
    executable = shutil.which(pspp)
    if executable is None:
        return False
    sav_path = Path(sav_path)
    sps_path = Path(sps_path) if sps_path is not None else sav_path.with_suffix(".sps")
    result = subprocess.run(  # noqa: S603 - fixed program, our own syntax file
        [executable, "-O", "format=txt", "-o", "/dev/null", sps_path.name],
        cwd=sav_path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ExportError(f"pspp failed on {sps_path.name}: {(result.stderr or result.stdout).strip()[:500]}")
    return True


__all__ = [
    "embed_mr_sets",
    "sav_frame",
    "sav_metadata",
    "sps_text",
    "write_sav",
    "write_sps",
]
