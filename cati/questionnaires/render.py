"""Rendering texts with fills (questionnaire-format §9): what the interviewer sees and reads out.

Fills show *labels*, not codes, and numbers and dates the way the interview language writes
them (German ``19,99`` and ``01.03.2025``; English ``19.99`` and the unambiguous ISO date
``2025-03-01``; a code with a region such as ``de-CH`` follows its base language). Specials
show their label ("weiß nicht"); unanswered or off-route values show nothing, so a fill never
leaks a stale answer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import expressions as ex
from . import model
from .languages import base_language, for_language
from .route import NameRef, Scope, row_key

#: Languages that write a decimal comma and day.month.year dates.
_DECIMAL_COMMA = frozenset({"de", "fr", "es", "it", "nl", "pl", "pt", "da", "sv", "fi", "nb", "no", "cs", "tr", "ru"})
_AND = {"de": "und", "en": "and", "fr": "et", "es": "y", "it": "e", "nl": "en", "pl": "i"}
_FALLBACK_SPECIAL_LABELS = {
    "de": {"DK": "weiß nicht", "REF": "keine Angabe", "NA": "trifft nicht zu"},
    "en": {"DK": "don't know", "REF": "refused", "NA": "not applicable"},
}


def pick(raw: model.Text | None, lang: str) -> str:
    """The raw string of a text in ``lang`` (first language as fallback)."""
    if raw is None:
        return ""
    value = raw.raw.get(lang)
    if value is None:
        value = next(iter(raw.raw.values()), "")
    return value


def format_number(value: float | int, lang: str, decimals: int | None = None) -> str:
    if isinstance(value, bool):
        value = int(value)
    if decimals is not None and decimals > 0:
        text = f"{value:.{decimals}f}"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = str(int(value)) if value.is_integer() else f"{value:.10f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    if base_language(lang) in _DECIMAL_COMMA:
        text = text.replace(".", ",")
    return text


def format_date(value: dt.date, lang: str) -> str:
    if base_language(lang) not in _DECIMAL_COMMA:
        return value.isoformat()
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"


def join_labels(labels: Sequence[str], lang: str) -> str:
    """``A, B und C`` (no serial comma, as German and British English write it)."""
    labels = [label for label in labels if label]
    if len(labels) <= 1:
        return labels[0] if labels else ""
    conjunction = for_language(_AND, lang) or _AND["en"]
    return f"{', '.join(labels[:-1])} {conjunction} {labels[-1]}"


def special_label(questionnaire: model.Questionnaire, name: str, lang: str) -> str:
    text = questionnaire.special_labels.get(name)
    if text is not None:
        return pick(text, lang)
    labels = for_language(_FALLBACK_SPECIAL_LABELS, lang) or _FALLBACK_SPECIAL_LABELS["en"]
    return labels.get(name, name)


def format_value(scope: Scope, value: Any, lang: str, decimals: int | None = None) -> str:
    """An expression value as text in ``lang``."""
    if value is None:
        return ""
    if isinstance(value, ex.Special):
        return special_label(scope.call.flow.questionnaire, str(value), lang)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return format_number(value, lang, decimals)
    if isinstance(value, dt.datetime):
        return format_date(value.date(), lang)
    if isinstance(value, dt.date):
        return format_date(value, lang)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(scope, v, lang, decimals) for v in value)
    return str(value)


def value_labels(scope: Scope, ref: NameRef, raw: Any, lang: str) -> str | None:
    """The option label(s) of a stored value; specials give their label."""
    if raw is None:
        return None
    questionnaire = scope.call.flow.questionnaire
    if isinstance(raw, str) and raw in model.SPECIAL_NAMES:
        return special_label(questionnaire, raw, lang)
    options = scope.call.flow.options_of(ref)
    by_code = {o.code: o for o in options}
    codes = raw if isinstance(raw, list) else [raw]
    labels = []
    asked = _asked_scope(scope, ref)
    for code in codes:
        option = by_code.get(code)
        labels.append(render(option.text, asked, lang) if option is not None else str(code))
    return join_labels(labels, lang)


def _asked_scope(scope: Scope, ref: NameRef) -> Scope:
    """Where the question of ``ref`` was asked: its option texts render there as on its screen
    (a ``{$label}`` in them is the item of the question's own loop, not of the fill's)."""
    if ref.question is None:
        return Scope(scope.call) if scope.codes else scope
    if ref.key is None:
        depth = ref.depth
        return scope if depth == len(scope.codes) else Scope(scope.call, scope.loops[:depth], scope.codes[:depth])
    loops = scope.call.flow.node(ref.question.id).loops
    codes = tuple(int(code) for code in ref.key.split("_")[-len(loops) :]) if loops else ()
    return Scope(scope.call, loops, codes)


def _decimals(ref: NameRef | None) -> int | None:
    if ref is None or ref.question is None or ref.part != "value":
        return None
    if ref.question.type in ("numeric", "nps"):
        return ref.question.decimals
    return None


def render_fill(fill: model.Fill, scope: Scope, lang: str) -> str:
    kind = fill.kind
    if kind == "var":
        assert fill.name is not None
        resolved = scope.resolve(fill.name)
        decimals = _decimals(resolved[0]) if resolved else None
        return format_value(scope, scope.lookup(fill.name), lang, decimals)
    if kind == "label":
        assert fill.name is not None
        resolved = scope.resolve(fill.name)
        if resolved is None:
            return ""
        return value_labels(scope, resolved[0], scope.raw(fill.name), lang) or ""
    if kind == "expr":
        assert fill.expr is not None
        return format_value(scope, scope.evaluate(fill.expr), lang)
    if kind == "loop_label":
        return loop_label(scope, lang) or ""
    if kind == "loop_code":
        code = scope.loop_code
        return "" if code is None else str(code)
    if kind == "interviewer":
        return scope.call.state.interviewer or ""
    return ""


def loop_label(scope: Scope, lang: str | None = None) -> str | None:
    """``{$label}``: the current loop item's text exactly as it renders on its own (None outside
    a loop).

    ``{{``/``}}`` are single braces, and the item's own fills are resolved where its text is
    shown on its own: outside this loop (an option of the ``over`` question may fill in the
    item of an enclosing loop). A count loop's items are their numbers.
    """
    code = scope.loop_code
    if code is None:
        return None
    loop = scope.call.flow.nodes[scope.loops[-1]].node
    assert isinstance(loop, model.Loop)
    text = dict(scope.call.flow.item_source(loop)).get(code)
    if text is None:
        return str(code)
    lang = text.language_for(lang or scope.call.state.lang)
    return render(text, Scope(scope.call, scope.loops[:-1], scope.codes[:-1]), lang)


def render(text: model.Text | None, scope: Scope, lang: str | None = None) -> str:
    """A text with its fills resolved in ``lang`` (default: the interview language)."""
    if text is None:
        return ""
    lang = lang or scope.call.state.lang
    parts = text.parts.get(lang)
    if parts is None:
        parts = next(iter(text.parts.values()), ())
    out = []
    for part in parts:
        out.append(part if isinstance(part, str) else render_fill(part, scope, lang))
    return "".join(out)


# -- screens ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScreenOption:
    """An answer option (or grid scale point) as shown, in the stored random order."""

    code: int
    label: str
    exclusive: bool = False
    fixed: bool = False
    other_key: str | None = None  # answer key of the "specify" text, when the option has one
    other_max_length: int | None = None


@dataclass(frozen=True, slots=True)
class GridRow:
    code: int
    key: str  # answer key of the row, ``<grid>_<row>``
    label: str
    existing: Any = None


@dataclass(frozen=True, slots=True)
class SpecialButton:
    """An interviewer-only button (never read out)."""

    name: str  # "DK" | "REF" | "NA"
    label: str


@dataclass(frozen=True, slots=True)
class Screen:
    """What the interviewer sees now.

    ``text`` is read out; ``instruction`` is for the interviewer only. ``existing`` is the stored
    answer in the form :meth:`Engine.answer` accepts (grids: ``{row code: value}``), so going back
    shows what was entered. For ``nps`` the options are the labelled ends of the scale (0 and
    10). ``errors`` carries hard or unconfirmed soft failures found by the
    completion re-check that sent the interviewer here.
    """

    key: str
    node_id: str
    type: str  # a question type, or "info"
    text: str
    lang: str
    instruction: str | None = None
    options: tuple[ScreenOption, ...] = ()
    rows: tuple[GridRow, ...] = ()
    specials: tuple[SpecialButton, ...] = ()
    existing: Any = None
    others: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None
    read_out: bool = True
    required: bool = True
    min: float | None = None
    max: float | None = None
    decimals: int = 0
    unit: str | None = None
    max_length: int | None = None
    lines: int = 1
    min_choices: int | None = None
    max_choices: int | None = None
    min_date: str | None = None
    max_date: str | None = None
    loop_code: int | None = None
    loop_label: str | None = None
    position: int = 0  # index of this screen in the route
    can_go_back: bool = False
    errors: tuple[Any, ...] = ()


def shown_options(options: Sequence[model.Option], order: Sequence[int] | None) -> list[model.Option]:
    if order is None:
        return list(options)
    by_code = {o.code: o for o in options}
    shown = [by_code[code] for code in order if code in by_code]
    missing = [o for o in options if o.code not in set(order)]
    return shown + missing


def _date_bound(bound: Any, scope: Scope) -> str | None:
    if bound is None:
        return None
    if isinstance(bound, dt.date):
        return bound.isoformat()
    value = scope.evaluate(bound)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):  # an ISO date text bounds like a date (validate._bound); other texts do not
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None


def question_text(question: model.Question, scope: Scope) -> str:
    """The read-out text: the first variant whose condition holds replaces ``text``."""
    for variant in question.variants:
        if scope.holds(variant.condition):
            return render(variant.text, scope)
    return render(question.text, scope)


def build_screen(
    node: model.Question | model.Info,
    scope: Scope,
    key: str,
    extras: Sequence[str],
    position: int,
    can_go_back: bool,
    errors: tuple[Any, ...] = (),
) -> Screen:
    state = scope.call.state
    lang = state.lang
    common = {
        "key": key,
        "node_id": node.id,
        "lang": lang,
        "instruction": render(node.instruction, scope) if node.instruction is not None else None,
        "loop_code": scope.loop_code,
        "loop_label": loop_label(scope, lang),
        "position": position,
        "can_go_back": can_go_back,
        "errors": errors,
    }
    if isinstance(node, model.Info):
        return Screen(type="info", text=render(node.text, scope), **common)
    q = node
    questionnaire = scope.call.flow.questionnaire
    orders = state.orders
    option_order = orders.get(key + "/options" if q.type == "grid" else key)
    options = tuple(
        ScreenOption(
            code=o.code,
            label=render(o.text, scope),
            exclusive=o.exclusive,
            fixed=o.fixed,
            other_key=(o.other.id + key[len(q.id) :]) if o.other is not None else None,
            other_max_length=o.other.max_length if o.other is not None else None,
        )
        for o in shown_options(q.scale_labels if q.type == "nps" else q.options, option_order)
        if scope.holds(o.show_if)
    )
    answers = state.answers
    rows: tuple[GridRow, ...] = ()
    existing: Any
    if q.type == "grid":
        by_key = {row_key(q, key, row.code): row for row in q.rows}
        rows = tuple(
            GridRow(by_key[k].code, k, render(by_key[k].text, scope), answers.get(k)) for k in extras if k in by_key
        )
        present = {row.code: row.existing for row in rows if row.existing is not None}
        existing = present or None
    else:
        existing = answers.get(key)
    others = {o.other_key: answers[o.other_key] for o in options if o.other_key and o.other_key in answers}
    nps = q.type == "nps"
    return Screen(
        type=q.type,
        text=question_text(q, scope),
        options=options,
        rows=rows,
        specials=tuple(SpecialButton(name, special_label(questionnaire, name, lang)) for name in q.special),
        existing=existing,
        others=others,
        default=render(q.default, scope) if q.default is not None else None,
        read_out=q.read_out,
        required=q.required,
        min=q.min if q.min is not None else (0 if nps else None),
        max=q.max if q.max is not None else (10 if nps else None),
        decimals=0 if nps else q.decimals,
        unit=render(q.unit, scope) if q.unit is not None else None,
        max_length=q.max_length,
        lines=q.lines,
        min_choices=q.min_choices,
        max_choices=q.max_choices,
        min_date=_date_bound(q.min_date, scope),
        max_date=_date_bound(q.max_date, scope),
        **common,
    )
