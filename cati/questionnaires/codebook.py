"""The export variables of a compiled questionnaire, in export order (questionnaire-format §2-§4).

One function, :func:`build_codebook`, decides every column name, label, SPSS format, value label
and missing code. Exports, ``cati codebook`` and the checker all use it, so the names the checker
validates are exactly the names the exports write.

Order: paradata, sample fields, then the flow in file order. Within a question: its value
variable(s), multi dichotomies (options, then allowed specials), "specify" texts, then
``<id>_ord``. A randomised block's ``<block>_ord`` comes before its children, a quota's
``quota_<id>`` at its checkpoint. Loop bodies repeat once per possible item with ``_<code>``
appended to every name (outer loop first: ``Q_<outer>_<inner>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from . import fills, model
from .languages import for_language

MAX_LABEL_BYTES = 256
DATE_FORMAT = "EDATE10"  # dd.mm.yyyy, the German/European convention; pyreadstat and PSPP read it
DATETIME_FORMAT = "DATETIME20"

_WORDS = {
    "de": {
        "resp_id": "Befragten-ID (pseudonym)",
        "disposition": "Abschlusscode (Disposition)",
        "q_version": "Fragebogenversion",
        "lang": "Interviewsprache",
        "interviewer_id": "Interviewer-Code (pseudonym)",
        "start_ts": "Beginn des Interviews",
        "end_ts": "Ende des Interviews",
        "duration_s": "Dauer in Sekunden",
        "n_soft_overrides": "Anzahl bestätigter Warnungen",
        "selected": "genannt",
        "not_selected": "nicht genannt",
        "order": "gezeigte Reihenfolge",
        "quota": "Quotenzelle",
    },
    "en": {
        "resp_id": "Respondent ID (pseudonymous)",
        "disposition": "Final disposition",
        "q_version": "Questionnaire version",
        "lang": "Interview language",
        "interviewer_id": "Interviewer code (pseudonymous)",
        "start_ts": "Interview start",
        "end_ts": "Interview end",
        "duration_s": "Duration in seconds",
        "n_soft_overrides": "Number of confirmed soft checks",
        "selected": "selected",
        "not_selected": "not selected",
        "order": "order shown",
        "quota": "quota cell",
    },
}


def _word(q: model.Questionnaire, key: str) -> str:
    return (for_language(_WORDS, q.default_language) or _WORDS["en"])[key]


@dataclass(frozen=True, slots=True)
class _Iteration:
    """Where the codebook is inside loops: the name suffix and the items of each loop level."""

    suffix: str = ""
    items: tuple[tuple[int, str], ...] = ()  # (code, label) per loop level, outer first
    conditions: tuple[str, ...] = ()

    def nested(self, code: int, label: str, condition: str | None) -> _Iteration:
        conditions = (*self.conditions, condition) if condition else self.conditions
        return _Iteration(f"{self.suffix}_{code}", (*self.items, (code, label)), conditions)

    def when(self, condition: str | None) -> _Iteration:
        return _Iteration(self.suffix, self.items, (*self.conditions, condition)) if condition else self


def build_codebook(q: model.Questionnaire) -> list[model.ExportVariable]:
    """Every export variable of ``q`` in export order."""
    out: list[model.ExportVariable] = []
    _paradata(q, out)
    for sample_field in q.sample:
        _sample_field(q, sample_field, out)
    _nodes(q, q.flow, _Iteration(), out)
    return [
        replace(v, value_labels=dict(sorted(v.value_labels.items()))) if len(v.value_labels) > 1 else v for v in out
    ]


# --------------------------------------------------------------------------- paradata, sample


def _paradata(q: model.Questionnaire, out: list[model.ExportVariable]) -> None:
    def add(name: str, spss_type: str, fmt: str, measure: str, **kw: object) -> None:
        out.append(
            model.ExportVariable(
                name=name,
                label=_word(q, name),
                kind="paradata",
                answer_key=None,
                spss_type=spss_type,
                spss_format=fmt,
                measure=measure,
                **kw,
            )
        )  # type: ignore[arg-type]

    dispositions = {d.code: d.name for d in q.dispositions.values()}
    add("resp_id", "string", "A36", "nominal", width=36)
    add("disposition", "numeric", _int_format(dispositions or [0]), "nominal", value_labels=dispositions)
    add("q_version", "numeric", _int_format([q.version]), "nominal")
    add("lang", "string", "A8", "nominal", width=8)
    add("interviewer_id", "string", "A36", "nominal", width=36)
    add("start_ts", "datetime", DATETIME_FORMAT, "scale")
    add("end_ts", "datetime", DATETIME_FORMAT, "scale")
    add("duration_s", "numeric", "F8.0", "scale")
    add("n_soft_overrides", "numeric", "F4.0", "scale")


def _sample_field(q: model.Questionnaire, f: model.SampleField, out: list[model.ExportVariable]) -> None:
    lang = q.default_language
    label = (f.label or {}).get(lang) or f.name
    common = {"name": f.name, "label": label, "kind": "value", "answer_key": f.name, "pii": f.pii}
    if f.type == "single":
        labels = {o.code: _text_label(o.text, lang) for o in f.options}
        out.append(
            model.ExportVariable(
                **common,
                spss_type="numeric",
                spss_format=_int_format(labels or [0]),
                measure="nominal",
                value_labels=labels,
            )
        )
    elif f.type == "numeric":
        out.append(model.ExportVariable(**common, spss_type="numeric", spss_format="F12.2", measure="scale"))
    elif f.type == "date":
        out.append(model.ExportVariable(**common, spss_type="date", spss_format=DATE_FORMAT, measure="scale"))
    else:
        out.append(model.ExportVariable(**common, spss_type="string", spss_format="A255", measure="nominal", width=255))


# --------------------------------------------------------------------------- flow


def _nodes(
    q: model.Questionnaire, nodes: tuple[model.Node, ...], it: _Iteration, out: list[model.ExportVariable]
) -> None:
    for node in nodes:
        if isinstance(node, model.Question):
            _question(q, node, it.when(_src(node.show_if)), out)
        elif isinstance(node, model.Block):
            inner = it.when(_src(node.show_if))
            if node.randomize:
                ids = [child.id for child in node.body if model.named(child.id)]
                width = max(1, sum(map(len, ids)) + len(ids) - 1)
                out.append(
                    model.ExportVariable(
                        name=f"{node.id}_ord{inner.suffix}",
                        label=f"{node.id} ({_word(q, 'order')})",
                        kind="order",
                        answer_key=f"{node.id}{inner.suffix}",
                        spss_type="string",
                        spss_format=f"A{width}",
                        measure="nominal",
                        question_id=node.id,
                        width=width,
                        show_if=_joined(inner.conditions),
                    )
                )
            _nodes(q, node.body, inner, out)
        elif isinstance(node, model.Loop):
            inner = it.when(_src(node.show_if))
            for item in node.export_items:
                label = _text_label(item.text, q.default_language) or str(item.code)
                _nodes(q, node.body, inner.nested(item.code, label, _item_condition(node, item)), out)
        elif isinstance(node, model.QuotaCheckpoint):
            _quota(q, node, it, out)


def _item_condition(loop: model.Loop, item: model.Option) -> str | None:
    if loop.over is not None:
        return f"selected({loop.over}, {item.code})"
    if loop.count is not None:
        return f"({loop.count.source}) >= {item.code}"
    return None


def _quota(
    q: model.Questionnaire, node: model.QuotaCheckpoint, it: _Iteration, out: list[model.ExportVariable]
) -> None:
    quota = next((x for x in q.quotas if x.id == node.quota), None)
    if quota is None:
        return
    labels = {i: cell.id for i, cell in enumerate(quota.cells, start=1)}
    out.append(
        model.ExportVariable(
            name=f"quota_{quota.id}",
            label=f"{_word(q, 'quota')} {quota.id}",
            kind="quota",
            answer_key=quota.id,
            spss_type="numeric",
            spss_format=_int_format(labels or [0]),
            measure="nominal",
            value_labels=labels,
            question_id=f"quota:{quota.id}",
            show_if=_joined(it.when(_src(node.show_if)).conditions),
        )
    )


def _question(
    q: model.Questionnaire, question: model.Question, it: _Iteration, out: list[model.ExportVariable]
) -> None:
    lang = q.default_language
    label = _label(q, question, it)
    key = f"{question.id}{it.suffix}"
    text = question.text.raw.get(lang) if question.text is not None else None
    condition = _joined(it.conditions)
    common = {"question_id": question.id, "text": text, "show_if": condition, "pii": question.pii}
    missing = tuple(sorted(question.special_codes[s] for s in question.special if s in question.special_codes))
    special_labels = {
        question.special_codes[s]: _special_label(q, s) for s in question.special if s in question.special_codes
    }
    t = question.type

    v = _Vars(q, question, it, label, out, common)

    def value(name: str, var_label: str, answer_key: str, **kw: object) -> None:
        v.add("value", name, var_label, answer_key, **kw)

    if t == "single" or (t == "computed" and question.options):
        labels = {**_option_labels(question.options, lang), **special_labels}
        value(
            key,
            label,
            key,
            spss_type="numeric",
            spss_format=_int_format(labels or [0]),
            measure="nominal",
            value_labels=labels,
            missing=missing,
        )
    elif t == "multi":
        _multi(v)
    elif t in ("numeric", "nps"):
        codes = [question.special_codes[s] for s in question.special if s in question.special_codes]
        labels = {**_option_labels(question.scale_labels, lang), **special_labels}
        fmt = _numeric_format([question.min or 0, question.max or 0, *codes], question.decimals)
        value(
            key, label, key, spss_type="numeric", spss_format=fmt, measure="scale", value_labels=labels, missing=missing
        )
    elif t == "text" or (t == "computed" and question.value_type == "string"):
        width = question.max_length or 255
        value(
            key,
            label,
            key,
            spss_type="string",
            spss_format=f"A{width}",
            measure="nominal",
            width=width,
            missing=missing,
        )
    elif t == "date" or (t == "computed" and question.value_type == "date"):
        value(
            key,
            label,
            key,
            spss_type="date",
            spss_format=DATE_FORMAT,
            measure="scale",
            value_labels=special_labels,
            missing=missing,
        )
    elif t == "grid":
        labels = {**_option_labels(question.options, lang), **special_labels}
        fmt = _int_format(labels or [0])
        for row in question.rows:
            row_key = f"{question.id}_{row.code}{it.suffix}"
            row_label = f"{label}: {_text_label(row.text, lang, it)}"
            row_condition = _joined((*it.conditions, _src(row.show_if)) if row.show_if else it.conditions)
            out.append(
                model.ExportVariable(
                    name=row_key,
                    label=row_label,
                    kind="value",
                    answer_key=row_key,
                    spss_type="numeric",
                    spss_format=fmt,
                    measure="ordinal",
                    value_labels=labels,
                    missing=missing,
                    question_id=question.id,
                    code=row.code,
                    text=text,
                    show_if=row_condition,
                )
            )
    elif t == "computed":
        value(key, label, key, spss_type="numeric", spss_format=f"F12.{question.decimals}", measure="scale")
    _others(v)
    _order(v)


@dataclass(frozen=True, slots=True)
class _Vars:
    """What the variables of one question in one loop iteration share, and where they go."""

    q: model.Questionnaire
    question: model.Question
    it: _Iteration
    label: str
    out: list[model.ExportVariable]
    common: dict

    def add(self, kind: str, name: str, label: str, answer_key: str, **kw: object) -> None:
        self.out.append(
            model.ExportVariable(name=name, label=label, kind=kind, answer_key=answer_key, **self.common, **kw)
        )  # type: ignore[arg-type]


def _multi(v: _Vars) -> None:
    q, question, suffix = v.q, v.question, v.it.suffix
    key = f"{question.id}{suffix}"
    dichotomy = {0: _word(q, "not_selected"), 1: _word(q, "selected")}

    def add(code: int, text: str, special: str | None = None) -> None:
        """One 0/1 variable of the multiple-response set: an option or an allowed special."""
        v.add(
            "dichotomy",
            f"{question.id}_{code}{suffix}",
            f"{v.label}: {text}",
            key,
            spss_type="numeric",
            spss_format="F1.0",
            measure="nominal",
            code=code,
            value_labels=dichotomy,
            mr_set=f"${key}",
            special=special,
        )

    for option in question.options:
        add(option.code, _text_label(option.text, q.default_language, v.it))
    for special in question.special:
        code = question.special_codes.get(special)
        if code is not None:
            add(code, _special_label(q, special), special)


def _others(v: _Vars) -> None:
    if v.question.type not in ("single", "multi"):
        return
    for option in v.question.options:
        if option.other is None:
            continue
        name = f"{option.other.id}{v.it.suffix}"
        width = option.other.max_length
        v.add(
            "value",
            name,
            f"{v.label}: {_text_label(option.text, v.q.default_language, v.it)}",
            name,
            spss_type="string",
            spss_format=f"A{width}",
            measure="nominal",
            width=width,
            code=option.code,
        )


def _order(v: _Vars) -> None:
    question = v.question
    if question.type in ("single", "multi") and question.randomize:
        items = question.options
    elif question.type == "grid" and question.randomize_rows:
        items = question.rows
    else:
        return
    width = max(1, sum(len(str(item.code)) for item in items) + len(items) - 1)
    v.add(
        "order",
        f"{question.id}_ord{v.it.suffix}",
        f"{v.label} ({_word(v.q, 'order')})",
        f"{question.id}{v.it.suffix}",
        spss_type="string",
        spss_format=f"A{width}",
        measure="nominal",
        width=width,
    )


# --------------------------------------------------------------------------- labels and formats


def _label(q: model.Questionnaire, question: model.Question, it: _Iteration) -> str:
    """The variable label, with ``{$label}``/``{$code}`` filled per loop iteration (§3).

    Without a ``label`` the question text stands in, shortened to fit SPSS's 256 bytes. Every
    label text follows :func:`_render`, so the question's own label and the labels generated
    from it (``<label>: <option>``) show fills the same way.
    """
    lang = q.default_language
    raw = (question.label or {}).get(lang)
    if raw is not None:
        parts, _refs, errors = fills.parse_template(raw)
        if errors:
            parts = (raw,)
    elif question.text is not None and question.text.parts.get(lang):
        parts = question.text.parts[lang]
    else:
        parts = (question.id,)
    item = it.items[-1] if it.items else None
    text = _render(parts, item)
    filled = any(isinstance(p, model.Fill) and p.kind in ("loop_label", "loop_code") for p in parts)
    outer = [lbl for _, lbl in it.items[:-1]] if filled else [lbl for _, lbl in it.items]
    suffix = f" ({', '.join(outer)})" if outer else ""
    if raw is None:
        # the stand-in text leaves room for what follows it in this label and the generated ones
        tails = [len((suffix + tail).encode()) for tail in _generated_tails(q, question, it)]
        text = _shorten(text, max([len(suffix.encode()), *tails]))
    return text + suffix


def _generated_tails(q: model.Questionnaire, question: model.Question, it: _Iteration) -> list[str]:
    """What _multi, _others, _order and grid rows append to the variable label."""
    lang = q.default_language
    tails = []
    if question.type == "multi":
        tails += [f": {_text_label(o.text, lang, it)}" for o in question.options]
        tails += [f": {_special_label(q, s)}" for s in question.special if s in question.special_codes]
    if question.type in ("single", "multi"):
        tails += [f": {_text_label(o.text, lang, it)}" for o in question.options if o.other is not None]
    if question.type == "grid":
        tails += [f": {_text_label(row.text, lang, it)}" for row in question.rows]
    if question.randomize or question.randomize_rows:
        tails.append(f" ({_word(q, 'order')})")
    return tails


def _text_label(text: model.Text, lang: str, it: _Iteration | None = None) -> str:
    """An option, row or special-code text as a label (value labels, and the part after the
    colon in generated labels), by the same rule as variable labels (:func:`_render`)."""
    parts = text.parts.get(lang)
    if parts is None:
        return text.raw.get(lang, "")
    return _render(parts, it.items[-1] if it is not None and it.items else None)


def _render(parts: model.Template, item: tuple[int, str] | None) -> str:
    """A label from a parsed text: the one rule for every label in the codebook.

    ``{$label}``/``{$code}`` show the current loop item (in a loop's variables); ``{{``/``}}``
    are single braces; every other fill is shown as written (``{S1}``, ``{S1:label}``,
    ``{=S2 * 7}``, ``{$interviewer}``): a label is the same for every respondent.
    """
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        elif part.kind == "loop_label":
            pieces.append(item[1] if item is not None else "{$label}")
        elif part.kind == "loop_code":
            pieces.append(str(item[0]) if item is not None else "{$code}")
        elif part.kind == "interviewer":
            pieces.append("{$interviewer}")
        elif part.kind == "expr" and part.expr is not None:
            pieces.append("{=" + part.expr.source + "}")
        elif part.kind == "label":
            pieces.append("{" + (part.name or "") + ":label}")
        else:
            pieces.append("{" + (part.name or part.kind) + "}")
    return "".join(pieces)


def _shorten(text: str, reserve: int = 0) -> str:
    """A fallback label from the question text, cut at a character boundary within the byte
    limit, leaving ``reserve`` bytes (at least 32) for what generated labels append to it."""
    limit = MAX_LABEL_BYTES - max(32, reserve)
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(0, limit - 8)].decode("utf-8", "ignore").rstrip() + "…"


def _special_label(q: model.Questionnaire, name: str) -> str:
    text = q.special_labels.get(name)
    return _text_label(text, q.default_language) if text is not None else name


def _option_labels(options: tuple[model.Option, ...], lang: str) -> dict[int, str]:
    """Value labels: the option texts by the label rule (fills as written, single braces)."""
    return {option.code: _text_label(option.text, lang) for option in options}


def _int_format(values: Mapping[int, str] | list[int] | tuple[int, ...]) -> str:
    return _numeric_format(list(values), 0)


def _numeric_format(values: list[float], decimals: int) -> str:
    """``F<w>.<d>`` wide enough for every value (answers and special codes), sign included."""
    digits = max((len(str(int(abs(v)))) for v in values), default=1)
    sign = 1 if any(v < 0 for v in values) else 0
    width = digits + sign + (decimals + 1 if decimals else 0)
    return f"F{min(width, 40)}.{decimals}"


def _src(expr: object) -> str | None:
    return getattr(expr, "source", None) if expr is not None else None


def _joined(conditions: tuple[str | None, ...]) -> str | None:
    present = [c for c in conditions if c]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({c})" for c in present)
