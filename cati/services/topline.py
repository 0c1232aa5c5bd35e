"""Field progress and the topline report of a study, for the client portal.

Topline: frequencies of every closed question (single choice, computed codes with labels,
multiple choice, grid, NPS) over the **completes** (no test interviews), labelled from the
codebooks of every questionnaire version in use (the version union of the exports: newest labels,
older versions' rows recoded as in the data file).

Computed in streaming Python over the stored export rows (``interviews.data``), not in SQL. Why:

* one pass over the rows counts every question at once; in SQL each variable would be its own
  aggregate (a multiple-choice question alone is one 0/1 key per option), i.e. hundreds of
  expressions over a JSON column;
* JSON access differs between SQLite (``json_extract``) and PostgreSQL (``->>``), and the
  version union (renamed and recoded variables) is already written in Python for the exports;
* memory is bounded by the number of distinct codes, whatever the number of interviews: rows are
  read in batches (``yield_per``) and dropped after counting.

The result is cached per process under the data fingerprint (count, ids and newest change of
the completes), so a page view costs one aggregate query until an interview ends or changes.
Personal-data (``pii``) variables and open answers are never part of the topline.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from cati.exports import merge_codebooks, mr_sets
from cati.models import Study
from cati.questionnaires.errors import QuestionnaireError
from cati.questionnaires.model import ExportVariable

from . import exports, quotas
from .interviews import engine_for

NPS_PROMOTERS = (9, 10)
NPS_DETRACTORS = tuple(range(7))
_CACHE_SIZE = 16


@dataclass(frozen=True)
class Category:
    code: Any
    label: str
    count: int
    share: float | None  # of the table's (or grid row's) base
    special: bool = False  # don't know / refused / not applicable


@dataclass(frozen=True)
class GridRow:
    name: str
    label: str
    base: int
    categories: list[Category]


@dataclass
class Table:
    """One question's frequencies. ``kind``: single | nps | multi | grid."""

    id: str
    kind: str
    label: str
    text: str | None
    variables: list[str]
    base: int = 0
    categories: list[Category] = field(default_factory=list)
    rows: list[GridRow] = field(default_factory=list)  # grids
    columns: list[tuple[Any, str, bool]] = field(default_factory=list)  # grids: (code, label, special)
    nps: float | None = None  # NPS questions: % promoters - % detractors of the valid answers


@dataclass
class Topline:
    completes: int
    tables: list[Table]
    fingerprint: str
    versions: list[int]


# --------------------------------------------------------------------------- plan


@dataclass
class _Spec:
    table: Table
    members: list[ExportVariable]


def _question_types(session: Session, study: Study, versions: Sequence[int]) -> dict[str, str]:
    types: dict[str, str] = {}
    rows = [v for v in study.versions if v.version in versions] or ([study.current_version]
                                                                   if study.current_version else [])
    for version in sorted(rows, key=lambda v: v.version):
        for qid, question in engine_for(version).flow.questions.items():
            kind = question.type
            if kind == "computed":
                kind = "single" if question.options else "computed"
            types[qid] = kind
    return types


def _strip(label: str, prefix: str) -> str:
    return label[len(prefix):] if prefix and label.startswith(prefix) else label


def _common_prefix(labels: list[str]) -> str:
    if not labels:
        return ""
    first = labels[0]
    cut = first.rfind(": ")
    prefix = first[: cut + 2] if cut >= 0 else ""
    return prefix if prefix and all(label.startswith(prefix) for label in labels) else ""


def _plan(variables: Iterable[ExportVariable], types: dict[str, str]) -> list[_Spec]:
    specs: list[_Spec] = []
    sets = {s.name: s for s in mr_sets(variables)}
    by_set: dict[str, _Spec] = {}
    last_grid: _Spec | None = None
    for v in variables:
        if v.pii or v.question_id is None or v.kind not in ("value", "dichotomy"):
            last_grid = None
            continue
        kind = types.get(v.question_id)
        if kind in ("single", "nps") and v.kind == "value" and v.spss_type == "numeric":
            specs.append(_Spec(Table(v.name, kind, v.label, v.text, [v.name]), [v]))
        elif kind == "multi" and v.kind == "dichotomy" and v.mr_set:
            spec = by_set.get(v.mr_set)
            if spec is None:
                mr = sets.get(v.mr_set)
                label = mr.label if mr else v.mr_set.lstrip("$")
                spec = by_set[v.mr_set] = _Spec(Table(v.mr_set.lstrip("$"), "multi", label, v.text, []), [])
                specs.append(spec)
            spec.members.append(v)
            spec.table.variables.append(v.name)
            continue
        elif kind == "grid" and v.kind == "value" and v.spss_type == "numeric":
            if last_grid is None or last_grid.members[0].question_id != v.question_id:
                last_grid = _Spec(Table(v.question_id, "grid", v.label, v.text, []), [])
                specs.append(last_grid)
            last_grid.members.append(v)
            last_grid.table.variables.append(v.name)
            continue
        last_grid = None
    for spec in specs:
        if spec.table.kind == "grid":
            prefix = _common_prefix([m.label for m in spec.members])
            if prefix:
                spec.table.label = prefix[:-2]
    return specs


# --------------------------------------------------------------------------- counting


def _categories(variable: ExportVariable, counts: Counter[Any], base: int, *, nps: bool = False,
                codes: Sequence[Any] | None = None) -> list[Category]:
    labels = dict(variable.value_labels)
    specials = set(variable.missing)
    if codes is None:
        wanted: list[Any] = list(range(11)) if nps else [c for c in labels if c not in specials]
        wanted += [c for c in sorted(counts, key=_sort_key) if c not in wanted and c not in specials]
        wanted += [c for c in sorted(specials) if c in counts or c in labels]
    else:
        wanted = list(codes)
    out = []
    for code in wanted:
        n = counts.get(code, 0)
        label = labels.get(code) or str(code)
        if nps and code in labels and code not in specials:
            label = f"{code} – {labels[code]}"
        out.append(Category(code, label, n, n / base if base else None, code in specials))
    return out


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def compute(session: Session, study: Study, *, language: str = "de") -> Topline:
    """The topline over the study's completes (no test interviews); see the module docs."""
    selection = exports.Selection()
    state = exports.data_state(session, study, selection)
    if not state.count:
        return Topline(0, [], state.digest("topline", language), [])
    versions_ids = exports.version_ids(session, study, selection)
    books = exports.codebooks(session, study, versions_ids, language=language)
    merged = merge_codebooks(books, language=language)
    types = _question_types(session, study, sorted(books))
    specs = _plan(merged.variables, types)
    plans = {version: plan for version, plan in merged.plans.items() if plan}
    single_names = [m.name for s in specs if s.table.kind != "multi" for m in s.members]
    sets = [(s, [m.name for m in s.members]) for s in specs if s.table.kind == "multi"]
    counts: dict[str, Counter[Any]] = {name: Counter() for name in single_names}
    set_bases = [0] * len(sets)
    set_counts = [[0] * len(names) for _, names in sets]
    completes = 0
    for row in exports.iter_rows(session, study, selection):
        completes += 1
        if plans:
            plan = plans.get(row.get("q_version"))
            if plan is not None:
                row = plan.apply(row)
        for name in single_names:
            value = row.get(name)
            if value is not None:
                counts[name][value] += 1
        for i, (_, names) in enumerate(sets):
            values = [row.get(name) for name in names]
            if any(value is not None for value in values):
                set_bases[i] += 1
                tally = set_counts[i]
                for j, value in enumerate(values):
                    if value == 1:
                        tally[j] += 1
    tables = []
    set_index = 0
    for spec in specs:
        table = spec.table
        if table.kind == "multi":
            base = set_bases[set_index]
            tally = set_counts[set_index]
            set_index += 1
            mr = next((s for s in mr_sets(spec.members)), None)
            table.base = base
            table.categories = [
                Category(m.code if m.code is not None else m.name,
                         (mr.category_labels[j] if mr else m.label) or m.name, tally[j],
                         tally[j] / base if base else None, m.special is not None)
                for j, m in enumerate(spec.members)]
        elif table.kind == "grid":
            columns: dict[Any, tuple[str, bool]] = {}
            for m in spec.members:
                for code, label in m.value_labels.items():
                    columns.setdefault(code, (label, code in m.missing))
                for code in counts[m.name]:
                    columns.setdefault(code, (str(code), code in m.missing))
            order = sorted(columns, key=lambda c: (columns[c][1], _sort_key(c)))
            table.columns = [(code, columns[code][0], columns[code][1]) for code in order]
            prefix = _common_prefix([m.label for m in spec.members])
            for m in spec.members:
                row_counts = counts[m.name]
                base = sum(row_counts.values())
                table.rows.append(GridRow(m.name, _strip(m.label, prefix), base,
                                          _categories(m, row_counts, base, codes=order)))
            table.base = max((r.base for r in table.rows), default=0)
        else:
            variable = spec.members[0]
            tally_counts = counts[variable.name]
            table.base = sum(tally_counts.values())
            table.categories = _categories(variable, tally_counts, table.base, nps=table.kind == "nps")
            if table.kind == "nps":
                valid = sum(n for code, n in tally_counts.items() if code not in variable.missing)
                if valid:
                    promoters = sum(tally_counts.get(c, 0) for c in NPS_PROMOTERS)
                    detractors = sum(tally_counts.get(c, 0) for c in NPS_DETRACTORS)
                    table.nps = round(100 * (promoters - detractors) / valid, 1)
        tables.append(table)
    return Topline(completes, tables, state.digest("topline", language), sorted(books))


_cache: OrderedDict[tuple[int, str], Topline] = OrderedDict()
_lock = threading.Lock()


def topline(session: Session, study: Study, *, language: str = "de") -> Topline:
    """:func:`compute`, cached per process until the completes change."""
    digest = exports.data_state(session, study, exports.Selection()).digest("topline", language)
    key = (study.id, digest)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    result = compute(session, study, language=language)
    with _lock:
        _cache[(study.id, result.fingerprint)] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


# --------------------------------------------------------------------------- field progress


@dataclass
class FieldProgress:
    completes: int
    screened: int
    target: int | None
    target_source: str  # "setting" | "quotas" | ""
    quotas: list[Any]  # cati.services.quotas.QuotaStatus

    @property
    def share(self) -> float | None:
        return None if not self.target else min(self.completes / self.target, 1.0)


def field_progress(session: Session, study: Study) -> FieldProgress:
    """Completes against the target (the ``target_completes`` setting, else the quota with the
    largest total target) and by quota cell; test interviews never count."""
    completes = exports.count(session, study, exports.Selection())
    screened = exports.count(session, study, exports.Selection(groups=("screened",)))
    try:
        cells = quotas.cell_status(session, study)
    except QuestionnaireError:  # a stored version always compiles; be safe anyway
        cells = []
    settings = study.settings or {}
    target, source = None, ""
    if isinstance(settings.get("target_completes"), int):
        target, source = settings["target_completes"], "setting"
    else:
        totals = [sum(c.target for c in q.cells if c.target is not None) for q in cells
                  if any(c.target is not None for c in q.cells)]
        if totals:
            target, source = max(totals), "quotas"
    return FieldProgress(completes, screened, target, source, cells)
