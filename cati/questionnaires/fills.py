"""Fill templates: ``{...}`` placeholders in texts (questionnaire-format §9) → :data:`model.Template`.

Texts are parsed once at compile time so the engine only walks a tuple of strings and
:class:`~cati.questionnaires.model.Fill` objects. This module knows the *syntax*; whether a
referenced variable exists (and comes earlier) is the compiler's business, because only the
compiler knows the flow.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import expressions
from .model import Fill, Template
from .names import NAME_RE

_LOOP_FILLS = {"$label": "loop_label", "$code": "loop_code", "$interviewer": "interviewer"}


@dataclass(frozen=True, slots=True)
class FillError:
    """A syntax problem at ``offset`` (0-based character offset into the text)."""

    offset: int
    message: str


@dataclass(frozen=True, slots=True)
class FillRef:
    """Where a fill sits in its text (for reference errors) and what it is."""

    offset: int
    fill: Fill


def parse_template(text: str) -> tuple[Template, list[FillRef], list[FillError]]:
    """Split ``text`` into literal parts and fills; report every syntax problem."""
    parts: list[str | Fill] = []
    refs: list[FillRef] = []
    errors: list[FillError] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            errors.append(FillError(i, "a single '}' in a text: write '}}' for a literal brace"))
            i += 1
            continue
        if ch != "{":
            j = _next_brace(text, i)
            literal.append(text[i:j])
            i = j
            continue
        if text.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = _closing(text, i + 1)
        if end < 0:
            errors.append(FillError(i, "'{' without a closing '}' (write '{{' for a literal brace)"))
            break
        fill = _fill(text[i + 1 : end], i + 1, errors)
        if fill is not None:
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(fill)
            refs.append(FillRef(i, fill))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts), refs, errors


def _next_brace(text: str, start: int) -> int:
    positions = [p for p in (text.find("{", start), text.find("}", start)) if p >= 0]
    return min(positions) if positions else len(text)


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing a fill, skipping quoted strings inside ``{=expr}``."""
    quote = None
    for k in range(start, len(text)):
        ch = text[k]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and text.startswith("=", start):
            quote = ch
        elif ch == "}":
            return k
        elif ch == "{":
            return -1
    return -1


def _fill(body: str, offset: int, errors: list[FillError]) -> Fill | None:
    stripped = body.strip()
    if not stripped:
        errors.append(FillError(offset - 1, "empty fill '{}' (write '{{}}' for literal braces)"))
        return None
    if stripped.startswith("="):
        source = body[body.index("=") + 1 :]
        lead = offset + body.index("=") + 1
        try:
            expr = expressions.parse(source)
        except expressions.ExpressionError as exc:
            errors.append(FillError(lead + max(0, min(exc.offset or 0, len(source))), f"in fill: {exc.message}"))
            return None
        return Fill("expr", expr=expr)
    if stripped.startswith("$"):
        kind = _LOOP_FILLS.get(stripped)
        if kind is None:
            errors.append(
                FillError(offset, f"unknown fill {{{stripped}}} (known: {{$label}}, {{$code}}, {{$interviewer}})")
            )
            return None
        return Fill(kind)  # type: ignore[arg-type]
    name, colon, spec = stripped.partition(":")
    name, spec = name.strip(), spec.strip()
    if not NAME_RE.match(name):
        errors.append(FillError(offset, f"fill {{{stripped}}} is not a variable name, {{=expression}} or {{$...}}"))
        return None
    if not colon:
        return Fill("var", name=name)
    if spec == "label":
        return Fill("label", name=name)
    errors.append(FillError(offset, f"unknown fill format ':{spec}' in {{{stripped}}} (only ':label' exists)"))
    return None
