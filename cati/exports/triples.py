"""Triple-S 2.0 export: XML metadata (.sss) plus the data as CSV (``format="csv"``).

Triple-S is the survey interchange standard read by most tabulation tools. The metadata file
describes one ``record`` whose ``href`` names the data file; with ``format="csv"`` each
``position`` counts CSV fields (not characters), which keeps UTF-8 text safe, and ``skip="1"``
skips the header row of field names.

Mapping of the export variables:

* numeric code variables with value labels (nominal/ordinal) -> ``single``; every code that
  occurs is listed, specials (97/98/99, ...) as labelled codes (Triple-S has no missing values);
* other numbers (scales, counts, decimals) -> ``quantity`` with a ``range`` (its decimals give
  the number of decimal places) and labelled ``value`` elements for specials;
* the 0/1 variables of a multi question -> one ``multiple`` variable named after the question:
  ``spread`` (default: as many fields as options, each holding a chosen code in ascending order)
  or ``bitstring`` (one 0/1 field per code from 1 to the highest code); all fields empty = not
  asked;
* text -> ``character`` with its ``size``; timestamps -> ``character`` ``YYYY-MM-DD HH:MM:SS``;
* dates -> ``date`` (``YYYYMMDD``); a date question that allows a special (don't know) gets a
  companion ``single`` variable ``<name>_special`` holding the special's code.

Text is escaped by the XML writer; characters XML 1.0 cannot hold are removed from labels.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cati.questionnaires.model import ExportVariable

from .dataset import Dataset, ExportError, column_values, decimals, free_name, mr_sets, parse_format

Multiple = Literal["spread", "bitstring"]
CHUNK = 2048

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class SSSVariable:
    """One Triple-S variable: its metadata and how to make its CSV fields from a data row."""

    type: str
    name: str
    label: str
    fields: int
    render: Callable[[list[list[Any]]], list[list[Any]]]  # chunk columns -> CSV field columns
    values: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    range: tuple[str, str] | None = None
    size: int | None = None
    spread: tuple[int, int] | None = None  # (subfields, width)
    field_names: list[str] = field(default_factory=list)


def write_sss(
    dataset: Dataset,
    path: str | Path,
    *,
    data_path: str | Path | None = None,
    multiple: Multiple = "spread",
) -> list[Path]:
    """Write ``<path>`` (.sss metadata) and the CSV data (default ``<stem>_sss.csv``)."""
    if multiple not in ("spread", "bitstring"):
        raise ExportError(f"multiple must be 'spread' or 'bitstring', not {multiple!r}")
    path = Path(path)
    data_path = Path(data_path) if data_path is not None else path.with_name(f"{path.stem}_sss.csv")
    plan = sss_plan(dataset, multiple)
    tree = _metadata(dataset, plan, data_path.name)
    ET.indent(tree, space="  ")
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        tree.write(handle, encoding="unicode")
        handle.write("\n")
    with data_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for v in plan for name in v.field_names])
        n = dataset.n_rows
        series = [(dataset.frame.iloc[:, i], v) for i, v in enumerate(dataset.variables)]
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            columns = [column_values(column, v, start, stop) for column, v in series]
            fields = [field for v in plan for field in v.render(columns)]
            writer.writerows(zip(*fields, strict=True))
    return [path, data_path]


def sss_plan(dataset: Dataset, multiple: Multiple = "spread") -> list[SSSVariable]:
    """The Triple-S variables of ``dataset``, in file order."""
    plan: list[SSSVariable] = []
    index = {name: i for i, name in enumerate(dataset.names)}
    sets = {s.variables[0]: s for s in mr_sets(dataset.variables)}
    in_sets = {name for s in sets.values() for name in s.variables}
    taken = {name.lower() for name in dataset.names}
    for i, v in enumerate(dataset.variables):
        if v.name in sets:
            s = sets[v.name]
            plan.append(_multiple(s, [index[n] for n in s.variables], multiple, taken))
        elif v.name in in_sets:
            continue
        elif v.spss_type == "string":
            plan.append(_character(v, i))
        elif v.spss_type == "datetime":
            plan.append(_timestamp(v, i))
        elif v.spss_type == "date":
            plan.extend(_date(v, i, taken))
        elif v.value_labels and v.measure != "scale" and decimals(v) == 0:
            plan.append(_single(v, i, dataset.frame.iloc[:, i]))
        else:
            plan.append(_quantity(v, i, dataset.frame.iloc[:, i]))
    return plan


def _plain(i: int) -> Callable[[list[list[Any]]], list[list[Any]]]:
    def render(columns: list[list[Any]]) -> list[list[Any]]:
        return [columns[i]]  # the csv module writes None as an empty field

    return render


def _character(v: ExportVariable, i: int) -> SSSVariable:
    return SSSVariable("character", v.name, v.label, 1, _plain(i), size=v.width or 1, field_names=[v.name])


def _timestamp(v: ExportVariable, i: int) -> SSSVariable:
    def render(columns: list[list[Any]]) -> list[list[Any]]:
        return [[x.isoformat(sep=" ", timespec="seconds") if isinstance(x, dt.datetime) else x for x in columns[i]]]

    return SSSVariable("character", v.name, v.label, 1, render, size=19, field_names=[v.name])


def _date(v: ExportVariable, i: int, taken: set[str]) -> list[SSSVariable]:
    def render(columns: list[list[Any]]) -> list[list[Any]]:
        return [[x.strftime("%Y%m%d") if isinstance(x, dt.date) else None for x in columns[i]]]

    out = [SSSVariable("date", v.name, v.label, 1, render, field_names=[v.name])]
    if v.missing:
        name = free_name(f"{v.name}_special", taken)

        def special(columns: list[list[Any]]) -> list[list[Any]]:
            return [[x if isinstance(x, int) else None for x in columns[i]]]

        values = [(str(code), v.value_labels.get(code, str(code))) for code in v.missing]
        out.append(SSSVariable("single", name, f"{v.label} (special)", 1, special, values=values, field_names=[name]))
    return out


def _observed_codes(series: pd.Series) -> list[int]:
    array = series.array
    if isinstance(array, pd.arrays.IntegerArray):
        data = array._data[~array._mask]
        return [int(c) for c in np.unique(data)]
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[~np.isnan(values)]
    return [int(c) for c in np.unique(values) if float(c).is_integer()]


def _single(v: ExportVariable, i: int, series: pd.Series) -> SSSVariable:
    codes = dict(v.value_labels)
    for code in _observed_codes(series):
        codes.setdefault(code, str(code))
    values = [(str(code), label) for code, label in sorted(codes.items())]
    return SSSVariable("single", v.name, v.label, 1, _plain(i), values=values, field_names=[v.name])


def _quantity(v: ExportVariable, i: int, series: pd.Series) -> SSSVariable:
    places = decimals(v)
    _, width, _ = parse_format(v.spss_format) if v.spss_type == "numeric" else ("F", 8, 0)
    int_digits = max(1, width - (places + 1 if places else 0))
    high = 10**int_digits - 1 + (1 - 10**-places if places else 0)
    low = 0.0
    numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size:
        low = min(low, float(numbers.min()))
        high = max(high, float(numbers.max()))
    values = [(_number(code, places), label) for code, label in v.value_labels.items()]

    def render(columns: list[list[Any]]) -> list[list[Any]]:
        if not places:
            return [columns[i]]
        return [[None if x is None else f"{x:.{places}f}" for x in columns[i]]]

    return SSSVariable(
        "quantity",
        v.name,
        v.label,
        1,
        render,
        values=values,
        range=(_number(low, places), _number(high, places)),
        field_names=[v.name],
    )


def _number(value: Any, places: int) -> str:
    if places:
        return f"{float(value):.{places}f}"
    return str(int(value))


def _multiple(s: Any, columns: list[int], layout: Multiple, taken: set[str]) -> SSSVariable:
    name = s.name.lstrip("$")
    if name.lower() in taken:
        name = free_name(name, taken)
    values = [(str(code), label) for code, label in zip(s.codes, s.category_labels, strict=True)]
    pairs = list(zip(columns, s.codes, strict=True))
    if layout == "spread":
        count = len(pairs)
        ordered = sorted(pairs, key=lambda p: p[1])

        def spread(columns: list[list[Any]]) -> list[list[Any]]:
            rows = []
            for values in zip(*(columns[c] for c, _ in ordered), strict=True):
                chosen = [code for (_, code), x in zip(ordered, values, strict=True) if x == 1]
                rows.append(chosen + [None] * (count - len(chosen)))
            return [list(field) for field in zip(*rows, strict=True)] if rows else [[] for _ in range(count)]

        width = max(len(str(code)) for code in s.codes)
        return SSSVariable(
            "multiple",
            name,
            s.label,
            count,
            spread,
            values=values,
            spread=(count, width),
            field_names=[f"{name}_s{n}" for n in range(1, count + 1)],
        )
    if min(s.codes) < 1:
        raise ExportError(f"{s.name}: a bitstring needs codes from 1 upwards; use the spread layout")
    highest = max(s.codes)
    position = {code: c for c, code in pairs}

    def bits(columns: list[list[Any]]) -> list[list[Any]]:
        asked = [any(x is not None for x in values) for values in zip(*(columns[c] for c, _ in pairs), strict=True)]
        out = []
        for code in range(1, highest + 1):
            if code in position:
                out.append(
                    [None if not a else 1 if x == 1 else 0 for a, x in zip(asked, columns[position[code]], strict=True)]
                )
            else:
                out.append([0 if a else None for a in asked])
        return out

    return SSSVariable(
        "multiple",
        name,
        s.label,
        highest,
        bits,
        values=values,
        field_names=[f"{name}_b{n}" for n in range(1, highest + 1)],
    )


def _text(value: str) -> str:
    return _XML_INVALID.sub("", value)


def _metadata(dataset: Dataset, plan: list[SSSVariable], href: str) -> ET.ElementTree:
    info = dataset.info
    moment = info.exported_at or dt.datetime.now().astimezone()
    root = ET.Element("sss", {"version": "2.0"})
    ET.SubElement(root, "date").text = moment.strftime("%Y-%m-%d")
    ET.SubElement(root, "time").text = moment.strftime("%H:%M:%S")
    ET.SubElement(root, "origin").text = "cati"
    if info.study:
        ET.SubElement(root, "user").text = _text(info.study)
    survey = ET.SubElement(root, "survey")
    ET.SubElement(survey, "name").text = _text(info.questionnaire_id or info.study or "survey")
    ET.SubElement(survey, "title").text = _text(info.title or info.study or info.questionnaire_id or "survey")
    record = ET.SubElement(survey, "record", {"ident": "A", "href": href, "format": "csv", "skip": "1"})
    position = 1
    for ident, v in enumerate(plan, start=1):
        element = ET.SubElement(record, "variable", {"ident": str(ident), "type": v.type})
        ET.SubElement(element, "name").text = v.name
        ET.SubElement(element, "label").text = _text(v.label)
        ET.SubElement(element, "position", {"start": str(position), "finish": str(position + v.fields - 1)})
        position += v.fields
        if v.spread is not None:
            ET.SubElement(element, "spread", {"subfields": str(v.spread[0]), "width": str(v.spread[1])})
        if v.size is not None:
            ET.SubElement(element, "size").text = str(v.size)
        if v.values or v.range:
            values = ET.SubElement(element, "values")
            if v.range:
                ET.SubElement(values, "range", {"from": v.range[0], "to": v.range[1]})
            for code, label in v.values:
                ET.SubElement(values, "value", {"code": code}).text = _text(label)
    return ET.ElementTree(root)


__all__ = ["SSSVariable", "sss_plan", "write_sss"]
