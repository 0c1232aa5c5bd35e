"""The export model: one variable list for a study and compact columns built from data rows.

Every export format (SPSS, Excel, CSV, Triple-S) writes a :class:`Dataset`. A dataset is built by
:func:`build_dataset` from

* the codebooks (:func:`cati.questionnaires.codebook.build_codebook`) of every questionnaire
  version whose interviews are exported, and
* an iterable of row dicts, one per interview.

Row contract
    A row is a mapping whose keys are the codebook names of *its own* questionnaire version
    (exactly what :meth:`Engine.export_row <cati.questionnaires.engine.Engine.export_row>` returns:
    numbers, strings, ISO date/datetime strings, ``None`` for system-missing, specials as their
    numeric codes, multi options as 0/1) plus ``attempts`` (number of call attempts, supplied by
    the caller because only the server knows it). ``q_version`` tells which version a row belongs
    to; it matters only when several versions are exported. Missing keys are system-missing; keys
    that are no export variable (or a left-out personal-data variable) are ignored. ``date`` and
    ``datetime`` values may also be :class:`datetime.date` / :class:`datetime.datetime` objects.

Version union (several questionnaire versions in one file)
    Variables are merged by name, oldest version first; a variable that only a later version has is
    placed right after the variable that precedes it in that version, so the file keeps the
    questionnaire's order. The newest version wins for labels, measurement level, question text and
    filters; value labels are the union (the newest label wins for a code); numeric formats and
    string widths are widened to hold every version. Two conflicts change data, and both are
    listed in ``dataset.info.notes``:

    * the SPSS type changed (e.g. numeric -> text): the newest version keeps the name, older
      versions' values go to ``<name>_v<version>``;
    * the codes of a special changed (a numeric question's range grew from ``max: 50`` to
      ``max: 120``, so don't-know moved from 98 to 9998): older rows are recoded to the newest
      code of the same special (matched by its label), so one code means one thing in the file.

Columns are compact: nullable ``Int8``/``Int16``/``Int32`` for codes (the smallest that holds the
data), ``float64`` only for decimals, ``object`` arrays of ``str`` for strings (unpadded: the SPSS
writer forces the declared width), ``datetime64[s]`` for dates and timestamps. A date variable in
which a special code occurs (don't know for a date question) becomes an ``object`` column holding
``datetime.date``/``datetime.datetime`` values and the ``int`` codes.

Timestamps: the engine stores ISO strings with the server's UTC offset. By default the offset is
dropped and the wall-clock time kept (SPSS has no time zones, and pyreadstat would silently shift
aware values to UTC); pass ``timezone="Europe/Berlin"`` to convert every timestamp to that zone
first. ``info.timezone`` records which rule applied.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd

from cati.questionnaires.model import ExportVariable

ATTEMPTS = "attempts"
CHUNK_SIZE = 1024
PARADATA_LAST = "n_soft_overrides"

_FORMAT_RE = re.compile(r"([A-Z]+)(\d+)(?:\.(\d+))?\Z")

_WORDS = {
    "de": {
        "attempts": "Anzahl Kontaktversuche",
        "type_changed": "{name}: Typ in Version {old} ({old_type}) anders als in Version {new} ({new_type}); "
        "die Werte aus Version {old} stehen in {renamed}.",
        "label_changed": "{name}: Variablenlabel geändert; verwendet wird das Label aus Version {new}.",
        "value_label_changed": "{name}: Wertelabels geändert ({codes}); verwendet werden die Labels aus Version {new}.",
        "recoded": "{name}: Sondercodes der Version {old} umcodiert ({mapping}), wie in Version {new}.",
        "missing_overflow": "{name}: mehr als drei Sondercodes über die Versionen ({codes}); "
        "als fehlend deklariert: {kept}.",
        "widened": "{name}: Text länger als die deklarierte Breite ({old} Bytes); Breite auf {new} Bytes erhöht.",
        "decimals": "{name}: nicht ganzzahlige Werte in einem ganzzahligen Format; als Dezimalzahl exportiert.",
    },
    "en": {
        "attempts": "Number of call attempts",
        "type_changed": "{name}: type in version {old} ({old_type}) differs from version {new} ({new_type}); "
        "the values of version {old} are in {renamed}.",
        "label_changed": "{name}: variable label changed; the label of version {new} is used.",
        "value_label_changed": "{name}: value labels changed ({codes}); the labels of version {new} are used.",
        "recoded": "{name}: special codes of version {old} recoded ({mapping}) to match version {new}.",
        "missing_overflow": "{name}: more than three special codes across versions ({codes}); "
        "declared missing: {kept}.",
        "widened": "{name}: text longer than the declared width ({old} bytes); width raised to {new} bytes.",
        "decimals": "{name}: non-integer values in an integer format; exported as decimals.",
    },
}


class ExportError(ValueError):
    """Data or metadata that cannot be exported as asked (the message says which variable/row)."""


def words(language: str) -> Mapping[str, str]:
    return _WORDS.get(language, _WORDS["en"])


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ExportInfo:
    """What the ``Info`` sheet, the .sps header and the Triple-S header tell about an export.

    ``filters`` describes which interviews were selected (label -> description), e.g.
    ``{"Disposition": "1 (COMPLETE)", "Zeitraum": "2025-03-01 bis 2025-03-31"}``. ``language``
    (``de``/``en``) chooses sheet names and headings. ``versions``, ``notes``, ``excluded`` and
    ``timezone`` are filled in by :func:`build_dataset`.
    """

    study: str = ""
    title: str = ""
    questionnaire_id: str = ""
    versions: tuple[int, ...] = ()
    exported_at: dt.datetime | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    language: str = "de"
    timezone: str = ""
    notes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # personal-data variables left out of this export
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MRSet:
    """A multiple-dichotomy set (``$K1``): its 0/1 variables and the option each one stands for."""

    name: str  # "$K1"
    label: str
    variables: tuple[str, ...]
    codes: tuple[int, ...]
    category_labels: tuple[str, ...]
    counted_value: int = 1


@dataclass
class Dataset:
    """Variables (in file order) plus one column per variable in ``frame`` (same order).

    ``versions[name]`` lists the questionnaire versions that have the variable.
    """

    variables: tuple[ExportVariable, ...]
    frame: pd.DataFrame
    info: ExportInfo = field(default_factory=ExportInfo)
    versions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variables]
        if list(self.frame.columns) != names:
            raise ExportError("the frame's columns must be the variables' names, in the same order")
        self._by_name = {v.name: v for v in self.variables}

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> ExportVariable:
        return self._by_name[name]

    def mr_sets(self) -> list[MRSet]:
        return mr_sets(self.variables)

    def iter_rows(self, chunk_size: int = 2048, *, labels: bool = False) -> Iterator[list[Any]]:
        """Rows as lists of Python values in variable order: ``int``/``float`` numbers,
        ``str``, ``datetime.date`` (date variables), ``datetime.datetime`` (timestamps), ``None``
        for system-missing; specials stay their codes. ``labels=True`` replaces every code that
        has a (non-empty) value label by the label."""
        n = self.n_rows
        columns = [(self.frame.iloc[:, i], v) for i, v in enumerate(self.variables)]
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            lists = [column_values(series, v, start, stop, labels=labels) for series, v in columns]
            yield from map(list, zip(*lists, strict=True))


def column_values(
    series: pd.Series, variable: ExportVariable, start: int, stop: int, *, labels: bool = False
) -> list[Any]:
    """Python values of ``series[start:stop]`` (see :meth:`Dataset.iter_rows`)."""
    array = series.array
    dtype = series.dtype
    if isinstance(array, pd.arrays.IntegerArray):
        data = array._data[start:stop]
        mask = array._mask[start:stop]
        values = data.tolist()
        if mask.any():
            values = [None if m else v for v, m in zip(values, mask.tolist(), strict=True)]
    elif dtype == np.float64:
        chunk = series.to_numpy()[start:stop]
        values = [int(v) if v.is_integer() else v for v in chunk.tolist()]  # 39.0 -> 39, as in the row
        nans = np.isnan(chunk)
        if nans.any():
            values = [None if m else v for v, m in zip(values, nans.tolist(), strict=True)]
    elif dtype.kind == "M":
        values = series.to_numpy()[start:stop].astype("datetime64[s]").astype(object).tolist()
        if variable.spss_type == "date":
            values = [None if v is None else v.date() for v in values]
    else:
        values = series.to_numpy()[start:stop].tolist()
    if labels and variable.value_labels:
        value_labels = variable.value_labels
        values = [(value_labels.get(v) or v) if v is not None else None for v in values]
    return values


def mr_sets(variables: Iterable[ExportVariable]) -> list[MRSet]:
    """The multiple-dichotomy sets among ``variables`` in order of their first member."""
    groups: dict[str, list[ExportVariable]] = {}
    for v in variables:
        if v.mr_set and v.kind == "dichotomy":
            groups.setdefault(v.mr_set, []).append(v)
    out = []
    for name, members in groups.items():
        labels = [m.label for m in members]
        prefix = _common_label_prefix(labels)
        set_label = prefix[:-2] if prefix.endswith(": ") else (prefix.rstrip() or name.lstrip("$"))
        category = tuple(
            (lbl[len(prefix) :] if prefix else lbl) or m.name for lbl, m in zip(labels, members, strict=True)
        )
        codes = tuple(m.code if m.code is not None else i for i, m in enumerate(members, start=1))
        out.append(MRSet(name, set_label, tuple(m.name for m in members), codes, category))
    return out


def _common_label_prefix(labels: list[str]) -> str:
    """The longest common prefix ending in ``": "`` (``"Kenntnis: "`` of ``"Kenntnis: A"``)."""
    if not labels:
        return ""
    first = labels[0]
    n = len(first)
    for other in labels[1:]:
        n = min(n, len(other))
        for i in range(n):
            if first[i] != other[i]:
                n = i
                break
    common = first[:n]
    if len(labels) == 1:
        cut = first.rfind(": ")
        return first[: cut + 2] if cut >= 0 else ""
    cut = common.rfind(": ")
    return common[: cut + 2] if cut >= 0 else ""


# --------------------------------------------------------------------------- formats


def parse_format(fmt: str) -> tuple[str, int, int]:
    """``"F7.2"`` -> ``("F", 7, 2)``; ``"A80"`` -> ``("A", 80, 0)``."""
    match = _FORMAT_RE.match(fmt)
    if not match:
        raise ExportError(f"unknown SPSS format {fmt!r}")
    return match.group(1), int(match.group(2)), int(match.group(3) or 0)


def decimals(variable: ExportVariable) -> int:
    if variable.spss_type != "numeric":
        return 0
    return parse_format(variable.spss_format)[2]


def _widest_numeric(formats: Iterable[str]) -> str:
    int_digits = 1
    places = 0
    for fmt in formats:
        _, width, d = parse_format(fmt)
        int_digits = max(int_digits, width - (d + 1 if d else 0))
        places = max(places, d)
    return f"F{min(int_digits + (places + 1 if places else 0), 40)}.{places}"


# --------------------------------------------------------------------------- version union


@dataclass
class _VersionPlan:
    """How rows of one older version are adapted to the merged variable list."""

    renames: dict[str, str] = field(default_factory=dict)
    recodes: dict[str, dict[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.renames or self.recodes)

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for old, new in self.renames.items():
            if old in out:
                out[new] = out.pop(old)
        for name, mapping in self.recodes.items():
            value = out.get(name)
            if value is not None and not isinstance(value, list | dict) and value in mapping:
                out[name] = mapping[value]
        return out


@dataclass
class Merged:
    """The result of :func:`merge_codebooks`."""

    variables: list[ExportVariable]
    versions: dict[str, tuple[int, ...]]
    plans: dict[int, _VersionPlan]
    notes: list[str]
    all_versions: tuple[int, ...] = ()


def merge_codebooks(
    codebooks: Mapping[int, Sequence[ExportVariable]] | Sequence[ExportVariable], *, language: str = "de"
) -> Merged:
    """One variable list for interviews of several questionnaire versions (see module docs)."""
    if isinstance(codebooks, Mapping):
        by_version = {int(k): list(v) for k, v in codebooks.items()}
    else:
        by_version = {0: list(codebooks)}
    if not by_version:
        raise ExportError("no codebook given")
    w = words(language)
    ordered = sorted(by_version)
    notes: list[str] = []
    plans = {version: _VersionPlan() for version in ordered}

    # 1. the type of each name in the newest version that has it decides; others are renamed
    winner: dict[str, ExportVariable] = {}
    winner_version: dict[str, int] = {}
    for version in ordered:
        for v in by_version[version]:
            winner[v.name] = v
            winner_version[v.name] = version
    taken = {v.name.lower() for cb in by_version.values() for v in cb}
    renamed: dict[tuple[int, str], str] = {}
    for version in ordered:
        for v in by_version[version]:
            best = winner[v.name]
            if best.spss_type != v.spss_type:
                new_name = free_name(f"{v.name}_v{version}", taken)
                renamed[(version, v.name)] = new_name
                plans[version].renames[v.name] = new_name
                notes.append(
                    w["type_changed"].format(
                        name=v.name,
                        old=version,
                        old_type=v.spss_type,
                        new=winner_version[v.name],
                        new_type=best.spss_type,
                        renamed=new_name,
                    )
                )

    # 2. order: union in first-seen order, later additions anchored after their predecessor
    order: list[str] = []
    present: set[str] = set()
    members: dict[str, list[tuple[int, ExportVariable]]] = {}
    for version in ordered:
        anchor: str | None = None
        for v in by_version[version]:
            name = renamed.get((version, v.name), v.name)
            if (version, v.name) in renamed:
                v = replace(v, name=name, label=f"{v.label} (v{version})", mr_set=None)
            members.setdefault(name, []).append((version, v))
            if name not in present:
                order.insert(order.index(anchor) + 1 if anchor is not None else 0, name)
                present.add(name)
            anchor = name

    # 3. merge the metadata of each name
    variables = []
    for name in order:
        versions_vars = members[name]
        merged = _merge_variable(versions_vars, plans, notes, w)
        variables.append(merged)
    if isinstance(codebooks, Mapping):
        all_versions = tuple(ordered)
        versions = {name: tuple(version for version, _ in members[name]) for name in order}
    else:
        all_versions = ()
        versions = dict.fromkeys(order, ())
    return Merged(variables, versions, plans, notes, all_versions)


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... if taken (case-insensitively); reserves it in ``taken``."""
    candidate = name
    n = 2
    while candidate.lower() in taken:
        candidate = f"{name}_{n}"
        n += 1
    taken.add(candidate.lower())
    return candidate


def _merge_variable(
    entries: list[tuple[int, ExportVariable]],
    plans: dict[int, _VersionPlan],
    notes: list[str],
    w: Mapping[str, str],
) -> ExportVariable:
    newest_version, newest = entries[-1]
    if len(entries) == 1:
        return newest
    name = newest.name
    # labels
    if any(v.label != newest.label for _, v in entries[:-1]):
        notes.append(w["label_changed"].format(name=name, new=newest_version))
    value_labels: dict[int, str] = {}
    changed_codes = set()
    for _, v in entries:
        for code, label in v.value_labels.items():
            if code in value_labels and value_labels[code] != label:
                changed_codes.add(code)
            value_labels[code] = label
    if changed_codes:
        codes = ", ".join(map(str, sorted(changed_codes)))
        notes.append(w["value_label_changed"].format(name=name, codes=codes, new=newest_version))
    # specials: recode older codes to the newest code of the same special
    missing = list(newest.missing)
    for version, v in entries[:-1]:
        if tuple(v.missing) == tuple(newest.missing):
            continue
        mapping: dict[Any, Any] = {}
        for position, code in enumerate(v.missing):
            if code in newest.missing:
                continue
            label = v.value_labels.get(code)
            same = [c for c in newest.missing if label is not None and newest.value_labels.get(c) == label]
            target = None
            if len(same) == 1:
                target = same[0]
            elif label is None and len(v.missing) == len(newest.missing):
                target = newest.missing[position]
            if target is not None and target not in v.missing:
                mapping[code] = target
                if newest.spss_type == "string":
                    mapping[str(code)] = str(target)
            elif code not in missing:
                missing.append(code)
        if mapping:
            plans[version].recodes[name] = mapping
            shown = ", ".join(f"{k}->{t}" for k, t in mapping.items() if isinstance(k, int))
            notes.append(w["recoded"].format(name=name, old=version, mapping=shown, new=newest_version))
            for code in mapping:
                if isinstance(code, int) and code not in newest.value_labels:
                    value_labels.pop(code, None)
    if len(missing) > 3:
        kept = tuple(missing[:3])
        notes.append(
            w["missing_overflow"].format(
                name=name, codes=", ".join(map(str, sorted(missing))), kept=", ".join(map(str, kept))
            )
        )
        missing = list(kept)
    # formats
    fmt = newest.spss_format
    width = newest.width
    if newest.spss_type == "numeric":
        fmt = _widest_numeric(v.spss_format for _, v in entries if v.spss_type == "numeric")
    elif newest.spss_type == "string":
        width = max((v.width or 0) for _, v in entries) or newest.width
        fmt = f"A{width}"
    return replace(
        newest,
        spss_format=fmt,
        width=width,
        value_labels=dict(sorted(value_labels.items())),
        missing=tuple(sorted(missing)),
        pii=any(v.pii for _, v in entries),
    )


# --------------------------------------------------------------------------- columns


class _Column:
    """Accumulates one variable's values chunk by chunk into compact arrays."""

    def __init__(self, variable: ExportVariable) -> None:
        self.variable = variable
        self.chunks: list[Any] = []

    def add(self, values: tuple[Any, ...], first_row: int) -> None:
        raise NotImplementedError

    def finish(self) -> Any:
        raise NotImplementedError

    def error(self, values: Sequence[Any], first_row: int, what: str) -> ExportError:
        for i, value in enumerate(values):
            if not _acceptable_number(value):
                return ExportError(f"{self.variable.name}: {what} expected, got {value!r} (row {first_row + i + 1})")
        return ExportError(f"{self.variable.name}: {what} expected (rows from {first_row + 1})")


def _acceptable_number(value: Any) -> bool:
    if value is None or isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


_INT_TYPES = (np.int8, np.int16, np.int32)


class _NumberColumn(_Column):
    """Codes and integers as nullable ``Int8``/``Int16``/``Int32``; decimals as ``float64``."""

    def __init__(self, variable: ExportVariable, notes: list[str], w: Mapping[str, str]) -> None:
        super().__init__(variable)
        self.floating = decimals(variable) > 0
        self.notes = notes
        self.w = w

    def add(self, values: tuple[Any, ...], first_row: int) -> None:
        try:
            array = np.array(values, dtype=np.float64)
        except (ValueError, TypeError):
            raise self.error(values, first_row, "a number") from None
        if array.ndim != 1:
            raise self.error(values, first_row, "a number")
        mask = np.isnan(array)
        if self.floating:
            self.chunks.append(array)
            return
        present = array[~mask] if mask.any() else array
        if present.size and not np.array_equal(present, np.trunc(present)):
            self._to_float()
            self.chunks.append(array)
            return
        low = present.min() if present.size else 0
        high = present.max() if present.size else 0
        target = next((t for t in _INT_TYPES if np.iinfo(t).min <= low and high <= np.iinfo(t).max), None)
        if target is None:
            self._to_float(note=False)
            self.chunks.append(array)
            return
        data = np.where(mask, 0, array).astype(target) if mask.any() else array.astype(target)
        self.chunks.append((data, mask))

    def _to_float(self, note: bool = True) -> None:
        if self.floating:
            return
        if note:
            self.notes.append(self.w["decimals"].format(name=self.variable.name))
        self.floating = True
        converted = []
        for data, mask in self.chunks:
            array = data.astype(np.float64)
            array[mask] = np.nan
            converted.append(array)
        self.chunks = converted

    def finish(self) -> Any:
        if self.floating:
            return np.concatenate(self.chunks) if self.chunks else np.empty(0, dtype=np.float64)
        if not self.chunks:
            return pd.array([], dtype="Int8")
        dtype = np.result_type(*(data.dtype for data, _ in self.chunks))
        data = np.concatenate([d for d, _ in self.chunks]).astype(dtype, copy=False)
        mask = np.concatenate([m for _, m in self.chunks])
        self.chunks = []
        return pd.arrays.IntegerArray(data, mask)


class _StringColumn(_Column):
    """Strings as an ``object`` array (``None`` = empty); tracks the longest UTF-8 byte length."""

    def __init__(self, variable: ExportVariable) -> None:
        super().__init__(variable)
        self.max_bytes = 0
        self.width = variable.width or 1

    def add(self, values: tuple[Any, ...], first_row: int) -> None:
        kinds = set(map(type, values))
        if not kinds <= {str, type(None)}:
            values = tuple(v if v is None or isinstance(v, str) else _to_text(v) for v in values)
        present = [v for v in values if v]
        if present:
            longest = max(map(len, present))  # characters; bytes only matter beyond ASCII
            if longest * 4 > self.width and not "".join(present).isascii():
                longest = max(len(v.encode("utf-8")) for v in present)
            self.max_bytes = max(self.max_bytes, longest)
        self.chunks.append(np.array(values, dtype=object))

    def finish(self) -> Any:
        if not self.chunks:
            return np.empty(0, dtype=object)
        array = np.concatenate(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks = []
        return array


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


class _DateColumn(_Column):
    """Dates/timestamps as ``datetime64[s]``; an ``object`` column once a special code occurs."""

    def __init__(self, variable: ExportVariable, zone: Any) -> None:
        super().__init__(variable)
        self.is_date = variable.spss_type == "date"
        self.zone = zone
        self.objects = False

    def add(self, values: tuple[Any, ...], first_row: int) -> None:
        if not self.objects and set(map(type, values)) <= {str, type(None)}:
            array = self._vectorised(values)
            if array is not None:
                self.chunks.append(array)
                return
        converted = [self._one(v, first_row + i) for i, v in enumerate(values)]
        if not self.objects and any(isinstance(v, int) for v in converted):
            self.objects = True
            self.chunks = [chunk.astype(object) for chunk in self.chunks]
        if self.objects:
            self.chunks.append(_object_array(converted))
        else:
            self.chunks.append(np.array(converted, dtype="datetime64[s]"))

    def _vectorised(self, values: tuple[Any, ...]) -> np.ndarray | None:
        try:
            if self.is_date:
                return np.array(values, dtype="datetime64[D]").astype("datetime64[s]")
            if self.zone is not None:
                stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
                local = stamps.dt.tz_convert(self.zone).dt.tz_localize(None)
                return local.to_numpy().astype("datetime64[s]")
            return np.array([v[:19] if v is not None else None for v in values], dtype="datetime64[s]")
        except (ValueError, TypeError):
            return None

    def _one(self, value: Any, row: int) -> dt.datetime | int | None:
        """A naive datetime (dates at midnight), a special code, or ``None``."""
        if value is None:
            return None
        if isinstance(value, bool):
            raise ExportError(f"{self.variable.name}: a date expected, got {value!r} (row {row + 1})")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return int(text)
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ExportError(
                    f"{self.variable.name}: an ISO date expected, got {value!r} (row {row + 1})"
                ) from None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                if self.zone is not None:
                    value = value.astimezone(self.zone)
                value = value.replace(tzinfo=None)
            return value.replace(microsecond=0)
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        raise ExportError(f"{self.variable.name}: a date expected, got {value!r} (row {row + 1})")

    def finish(self) -> Any:
        if not self.chunks:
            return np.empty(0, dtype="datetime64[s]")
        array = np.concatenate(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks = []
        if self.objects and self.is_date:
            array = _object_array([v.date() if isinstance(v, dt.datetime) else v for v in array])
        return array


def _object_array(values: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


# --------------------------------------------------------------------------- building


def attempts_variable(language: str = "de") -> ExportVariable:
    """The ``attempts`` paradata variable (not in the engine's codebook; supplied per row)."""
    return ExportVariable(
        name=ATTEMPTS,
        label=words(language)["attempts"],
        kind="paradata",
        answer_key=None,
        spss_type="numeric",
        spss_format="F4.0",
        measure="scale",
    )


def build_dataset(
    codebooks: Mapping[int, Sequence[ExportVariable]] | Sequence[ExportVariable],
    rows: Iterable[Mapping[str, Any]],
    *,
    include_pii: bool = False,
    info: ExportInfo | None = None,
    timezone: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Dataset:
    """The export dataset of ``rows`` (see the module docs for the row contract).

    ``codebooks``: ``{version: codebook}`` for every questionnaire version that occurs in
    ``rows`` (or one codebook). Personal-data variables (``pii``) are left out unless
    ``include_pii`` (the separately permitted contact export). ``rows`` is consumed once, in
    chunks of ``chunk_size``; it is never turned into a list.
    """
    info = info or ExportInfo()
    language = info.language
    w = words(language)
    merged = merge_codebooks(codebooks, language=language)
    variables = list(merged.variables)
    if not any(v.name == ATTEMPTS for v in variables):
        at = next((i + 1 for i, v in enumerate(variables) if v.name == PARADATA_LAST), None)
        if at is None:
            at = sum(1 for v in variables if v.kind == "paradata")
        variables.insert(at, attempts_variable(language))
        merged.versions[ATTEMPTS] = merged.all_versions
    elif next(v for v in variables if v.name == ATTEMPTS).kind != "paradata":
        raise ExportError(
            f"the questionnaire has a variable named {ATTEMPTS!r}, which the export needs for the number of "
            "call attempts; rename that question"
        )
    excluded = tuple(v.name for v in variables if v.pii and not include_pii)
    if excluded:
        variables = [v for v in variables if not v.pii or include_pii]
    zone = _zone(timezone)
    notes = merged.notes
    columns: list[_Column] = []
    for v in variables:
        if v.spss_type == "numeric":
            columns.append(_NumberColumn(v, notes, w))
        elif v.spss_type == "string":
            columns.append(_StringColumn(v))
        elif v.spss_type in ("date", "datetime"):
            columns.append(_DateColumn(v, zone))
        else:
            raise ExportError(f"{v.name}: unknown SPSS type {v.spss_type!r}")
    names = [v.name for v in variables]
    plans = {version: plan for version, plan in merged.plans.items() if plan}
    iterator = iter(rows)
    n = 0
    while True:
        chunk = list(islice(iterator, chunk_size))
        if not chunk:
            break
        if plans:
            chunk = [_adapt(row, plans) for row in chunk]
        table = [list(map(row.get, names)) for row in chunk]
        for column, values in zip(columns, zip(*table, strict=True), strict=True):
            column.add(values, n)
        n += len(chunk)
        del table, chunk
    data = {}
    final = []
    for v, column in zip(variables, columns, strict=True):
        array = column.finish()
        if isinstance(array, np.ndarray) and array.dtype == object:
            array = pd.Series(array, dtype=object, copy=False)  # no str inference (pandas 3)
        data[v.name] = array
        if isinstance(column, _StringColumn) and column.max_bytes > (v.width or 0):
            notes.append(w["widened"].format(name=v.name, old=v.width, new=column.max_bytes))
            v = replace(v, width=column.max_bytes, spss_format=f"A{column.max_bytes}")
        final.append(v)
    frame = pd.DataFrame(data, copy=False)
    info = replace(
        info,
        versions=merged.all_versions or info.versions,
        exported_at=info.exported_at or dt.datetime.now().astimezone().replace(microsecond=0),
        notes=(*info.notes, *notes),
        excluded=(*info.excluded, *excluded),
        timezone=timezone or "",
    )
    return Dataset(tuple(final), frame, info, {v.name: merged.versions.get(v.name, ()) for v in final})


def _adapt(row: Mapping[str, Any], plans: Mapping[int, _VersionPlan]) -> Mapping[str, Any]:
    version = row.get("q_version")
    plan = plans.get(version) if isinstance(version, int) else None
    return plan.apply(row) if plan else row


def _zone(timezone: str | None) -> Any:
    if not timezone:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportError(f"unknown time zone {timezone!r}") from None


def is_missing_code(variable: ExportVariable, value: Any) -> bool:
    """Whether ``value`` is one of ``variable``'s declared user-missing (special) codes."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value in variable.missing


__all__ = [
    "ATTEMPTS",
    "Dataset",
    "ExportError",
    "ExportInfo",
    "MRSet",
    "Merged",
    "attempts_variable",
    "build_dataset",
    "column_values",
    "merge_codebooks",
    "mr_sets",
    "parse_format",
]
