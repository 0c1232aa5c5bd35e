"""Validating an answer: implicit hard checks per question type, then the explicit checks (§7).

The implicit checks turn what the interviewer entered into the stored form (specials as their
names, multi answers as sorted code lists, dates as ISO strings, numbers as int/float) and refuse
what cannot be stored or exported correctly: wrong type, out of range, too many decimals or bytes,
codes that are not (visible) options, broken exclusivity, choice counts, missing answers.
Explicit checks run on the tentatively stored answer; a check is skipped when a variable it
references is null or special (a "don't know" never triggers a consistency check).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from . import expressions as ex
from . import model
from .languages import for_language
from .render import format_date, format_number, render, special_label
from .route import Scope, row_key

_MESSAGES = {
    "de": {
        "required": "Bitte eine Antwort erfassen.",
        "row_required": "Bitte eine Antwort für „{row}“ erfassen.",
        "type": "Ungültige Eingabe: {value!r}.",
        "number": "Bitte eine Zahl erfassen.",
        "min": "Der Wert muss mindestens {min} sein.",
        "max": "Der Wert darf höchstens {max} sein.",
        "decimals": "Höchstens {n} Nachkommastellen erlaubt.",
        "integer": "Bitte eine ganze Zahl erfassen.",
        "max_length": "Höchstens {n} Bytes erlaubt (Umlaute zählen doppelt).",
        "option": "{code} ist hier keine Antwortmöglichkeit.",
        "row": "{code} ist keine Zeile dieser Frage.",
        "special": "{name} ist bei dieser Frage nicht erlaubt.",
        "exclusive": "„{label}“ kann nicht mit anderen Antworten kombiniert werden.",
        "min_choices": "Bitte mindestens {n} Antworten wählen.",
        "max_choices": "Höchstens {n} Antworten erlaubt.",
        "date": "Bitte ein gültiges Datum erfassen (TT.MM.JJJJ).",
        "date_min": "Das Datum darf nicht vor dem {min} liegen.",
        "date_max": "Das Datum darf nicht nach dem {max} liegen.",
        "other": "Bitte „{label}“ genauer angeben.",
        "other_length": "Die Angabe zu „{label}“ ist zu lang (höchstens {n} Bytes).",
    },
    "en": {
        "required": "An answer is required.",
        "row_required": "An answer is required for “{row}”.",
        "type": "Not a valid answer: {value!r}.",
        "number": "Enter a number.",
        "min": "The value must be at least {min}.",
        "max": "The value must be at most {max}.",
        "decimals": "At most {n} decimal places are allowed.",
        "integer": "Enter a whole number.",
        "max_length": "At most {n} bytes are allowed.",
        "option": "{code} is not an option here.",
        "row": "{code} is not a row of this question.",
        "special": "{name} is not allowed for this question.",
        "exclusive": "“{label}” cannot be combined with other answers.",
        "min_choices": "Choose at least {n} answers.",
        "max_choices": "Choose at most {n} answers.",
        "date": "Enter a valid date (YYYY-MM-DD).",
        "date_min": "The date must not be before {min}.",
        "date_max": "The date must not be after {max}.",
        "other": "Please specify “{label}”.",
        "other_length": "The text for “{label}” is too long (at most {n} bytes).",
    },
}


_LARGEST = Decimal(10) ** 15


@dataclass(frozen=True, slots=True)
class CheckMessage:
    """One failed check. ``check`` is the explicit check's index, or the implicit check's name
    (``required``, ``type``, ``min``, ``max``, ``decimals``, ``max_length``, ``option``,
    ``special``, ``exclusive``, ``min_choices``, ``max_choices``, ``date``, ``date_min``,
    ``date_max``, ``other``, ``other_length``)."""

    key: str
    check: int | str
    severity: str  # "hard" | "soft"
    message: str

    def describe(self) -> str:
        what = f"check {self.check + 1}" if isinstance(self.check, int) else f"implicit check '{self.check}'"
        return f"{self.key}: {self.severity} {what} failed: {self.message}"


class _Refused(Exception):
    def __init__(self, check: str, **params: Any) -> None:
        super().__init__(check)
        self.check = check
        self.params = params


def _message(lang: str, check: str, params: Mapping[str, Any]) -> str:
    table = for_language(_MESSAGES, lang) or _MESSAGES["en"]
    return table[check].format(**params)


def special_name(value: Any) -> str | None:
    """``"DK"``, ``"REF"``, ``"NA"`` for a special given as its name or as a state."""
    if isinstance(value, ex.Special):
        return str(value)
    if isinstance(value, str) and value in model.SPECIAL_NAMES:
        return value
    if isinstance(value, list | tuple) and len(value) == 1:
        return special_name(value[0])
    return None


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | set | frozenset | dict) and not value


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Refused("type", value=value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    digits = value.strip().lstrip("-") if isinstance(value, str) else ""
    if digits.isascii() and digits.isdigit():  # not isdigit() alone: '²' is a digit that int() refuses
        return int(value.strip())
    raise _Refused("type", value=value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Refused("number")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused("number")
        return Decimal(str(value))
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _Refused("number") from None
        if not number.is_finite():
            raise _Refused("number")
        return number
    raise _Refused("number")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return dt.datetime.strptime(text, "%d.%m.%Y").date()
        except ValueError:
            pass
    raise _Refused("date")


class AnswerValidator:
    """Validates one screen's answer in its scope; knows the visible options."""

    def __init__(self, question: model.Question, scope: Scope, key: str) -> None:
        self.question = question
        self.scope = scope
        self.key = key
        self.lang = scope.call.state.lang
        self.messages: list[CheckMessage] = []

    def refuse(self, key: str, check: str, **params: Any) -> None:
        self.messages.append(CheckMessage(key, check, "hard", _message(self.lang, check, params)))

    # -- single values -----------------------------------------------------------------------
    def visible_options(self, options: tuple[model.Option, ...]) -> dict[int, model.Option]:
        return {o.code: o for o in options if self.scope.holds(o.show_if)}

    def _special(self, value: Any) -> str | None:
        name = special_name(value)
        if name is None:
            return None
        if name not in self.question.special:
            raise _Refused("special", name=name)
        return name

    def scalar(self, value: Any, options: dict[int, model.Option] | None = None) -> Any:
        """The stored form of a single value (single, grid row, numeric, nps, text, date)."""
        special = self._special(value)
        if special is not None:
            return special
        q = self.question
        kind = "single" if options is not None else q.type
        if kind in ("single", "grid"):
            code = _to_int(value)
            if options is None:
                options = self.visible_options(q.options)
            if code not in options:
                raise _Refused("option", code=code)
            return code
        if kind in ("numeric", "nps"):
            return self._number(value)
        if kind == "text":
            if not isinstance(value, str):
                raise _Refused("type", value=value)
            if q.max_length is not None and len(value.encode()) > q.max_length:
                raise _Refused("max_length", n=q.max_length)
            return value
        if kind == "date":
            return self._date(value).isoformat()
        raise _Refused("type", value=value)

    def _number(self, value: Any) -> int | float:
        q = self.question
        number = _to_decimal(value)
        decimals = q.decimals if q.type != "nps" else 0
        low = q.min if q.min is not None else (0 if q.type == "nps" else None)
        high = q.max if q.max is not None else (10 if q.type == "nps" else None)
        if low is not None and number < Decimal(str(low)):
            raise _Refused("min", min=format_number(low, self.lang))
        if high is not None and number > Decimal(str(high)):
            raise _Refused("max", max=format_number(high, self.lang))
        if abs(number) >= _LARGEST:  # beyond what a double (SPSS numeric) holds exactly
            raise _Refused("max" if number > 0 else "min", max=_LARGEST - 1, min=1 - _LARGEST)
        exponent = number.normalize().as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > decimals:
            raise _Refused("decimals" if decimals else "integer", n=decimals)
        if places == 0:
            return int(number)
        return float(number)

    def _bound(self, bound: dt.date | ex.Expr | None) -> dt.date | None:
        if bound is None or isinstance(bound, dt.date):
            return bound
        value = self.scope.evaluate(bound)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return None
        return None

    def _date(self, value: Any) -> dt.date:
        date = _to_date(value)
        low = self._bound(self.question.min_date)
        high = self._bound(self.question.max_date)
        if low is not None and date < low:
            raise _Refused("date_min", min=format_date(low, self.lang))
        if high is not None and date > high:
            raise _Refused("date_max", max=format_date(high, self.lang))
        return date

    # -- whole screens -----------------------------------------------------------------------
    def validate(self, value: Any, others: Mapping[str, Any], rows: tuple[model.Option, ...]) -> dict[str, Any]:
        """The values to store (answer key -> stored value, None = unanswered); refusals in
        ``messages``."""
        q = self.question
        try:
            if q.type == "grid":
                return self._grid(value, rows)
            if q.type == "multi":
                stored = self._multi(value)
            elif _is_empty(value):
                if q.required:
                    raise _Refused("required")
                stored = None
            else:
                stored = self.scalar(value)
        except _Refused as refused:
            self.refuse(self.key, refused.check, **refused.params)
            return {}
        result = {self.key: stored}
        result.update(self._others(stored, others))
        return result

    def _multi(self, value: Any) -> Any:
        q = self.question
        special = self._special(value)
        if special is not None:
            return special
        if _is_empty(value):
            if q.required:
                raise _Refused("required")
            return None
        items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        for item in items:
            name = special_name(item)
            if name is not None:
                label = self._special_label(name)
                raise _Refused("exclusive" if name in q.special else "special", label=label, name=name)
        visible = self.visible_options(q.options)
        codes = {_to_int(item) for item in items}
        for code in sorted(codes):
            if code not in visible:
                raise _Refused("option", code=code)
        if len(codes) > 1:
            for code in sorted(codes):
                if visible[code].exclusive:
                    raise _Refused("exclusive", label=render(visible[code].text, self.scope))
        if q.min_choices is not None and len(codes) < q.min_choices:
            raise _Refused("min_choices", n=q.min_choices)
        if q.max_choices is not None and len(codes) > q.max_choices:
            raise _Refused("max_choices", n=q.max_choices)
        return [o.code for o in q.options if o.code in codes]

    def _special_label(self, name: str) -> str:
        return special_label(self.scope.call.flow.questionnaire, name, self.lang)

    def _grid(self, value: Any, rows: tuple[model.Option, ...]) -> dict[str, Any]:
        q = self.question
        given = value if isinstance(value, Mapping) else {}
        if value is not None and not isinstance(value, Mapping):
            self.refuse(self.key, "type", value=value)
            return {}
        by_code: dict[int, Any] = {}
        keys = {row_key(q, self.key, row.code): row.code for row in q.rows}
        codes = set(keys.values())
        for given_key, row_value in given.items():
            code = keys.get(given_key) if isinstance(given_key, str) else None
            try:
                code = code if code is not None else _to_int(given_key)
            except _Refused:
                code = None
            if code not in codes:
                if not _is_empty(row_value):  # an answer for a row the grid does not have is not dropped silently
                    self.refuse(self.key, "row", code=given_key)
                continue
            by_code[code] = row_value
        options = self.visible_options(q.options)
        result: dict[str, Any] = {}
        for row in rows:
            key = row_key(q, self.key, row.code)
            row_value = by_code.get(row.code)
            try:
                if _is_empty(row_value):
                    if q.required:
                        raise _Refused("row_required", row=render(row.text, self.scope))
                    result[key] = None
                else:
                    result[key] = self.scalar(row_value, options)
            except _Refused as refused:
                self.refuse(key, refused.check, **refused.params)
        return result if not self.messages else {}

    def _others(self, stored: Any, others: Mapping[str, Any]) -> dict[str, Any]:
        """Specify texts: required (when the question is) and length-checked for selected
        options; the text of an option no longer selected is dropped."""
        result: dict[str, Any] = {}
        codes = stored if isinstance(stored, list) else [stored]
        suffix = self.key[len(self.question.id) :]
        state = self.scope.call.state
        for option in self.question.options:
            if option.other is None:
                continue
            other_key = option.other.id + suffix
            if option.code not in codes:
                result[other_key] = None
                continue
            text = others.get(other_key, others.get(option.other.id, state.answers.get(other_key)))
            label = render(option.text, self.scope)
            if _is_empty(text):
                if self.question.required:
                    self.refuse(other_key, "other", label=label)
                result[other_key] = None
            elif not isinstance(text, str):
                self.refuse(other_key, "type", value=text)
            elif len(text.encode()) > option.other.max_length:
                self.refuse(other_key, "other_length", label=label, n=option.other.max_length)
            else:
                result[other_key] = text
        return result


def fingerprint(check: model.Check, scope: Scope) -> dict[str, Any]:
    """The inputs of a check; a soft confirmation lapses when they change."""
    return {name: scope.raw(name) for name in sorted(check.expr.names)}


def run_checks(
    question: model.Question, scope: Scope, key: str, confirm: set[int] | frozenset[int]
) -> tuple[list[CheckMessage], list[CheckMessage], list[model.Check]]:
    """Explicit checks on the (tentatively stored) answer.

    Returns the hard failures, the soft failures that still need a confirmation, and the soft
    checks confirmed by this call (to record as paradata).
    """
    hard: list[CheckMessage] = []
    pending: list[CheckMessage] = []
    confirmed: list[model.Check] = []
    state = scope.call.state
    for check in question.checks:
        if ex.references_unanswered(check.expr, scope.lookup):
            continue
        if ex.truthy(scope.evaluate(check.expr)):
            continue
        message = CheckMessage(key, check.index, check.severity, render(check.message, scope))
        if check.severity == "hard":
            hard.append(message)
        elif check.index in confirm:
            confirmed.append(check)
        elif not confirmation_in_force(state, key, check, scope):
            pending.append(message)
    return hard, pending, confirmed


def confirmation_in_force(state: Any, key: str, check: model.Check, scope: Scope) -> bool:
    """Whether the last confirmation of this check was given for the current inputs."""
    for record in reversed(state.soft):
        if record["key"] == key and record["check"] == check.index:
            return record["inputs"] == fingerprint(check, scope)
    return False


def question_label(question: model.Question, lang: str) -> str:
    """A short name of the question for messages (its SPSS label, else its id)."""
    if question.label:
        return question.label.get(lang) or next(iter(question.label.values()), question.id)
    return question.id
