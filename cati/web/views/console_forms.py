"""Between the interview screen's HTML form and the engine: what a POST means, and what the
form shows (a stored answer, or what was entered when the answer was refused).

Field names: ``key`` and ``type`` (hidden: the screen the form was made for), ``revision``,
``value`` (single, nps, numeric, text, date: one; multi: several), ``row-<code>`` (grid rows),
``other-<answer key>`` (specify texts), ``special`` (a DK/REF/NA button), ``confirm`` (the soft
checks confirmed, comma-separated, from the confirm button). The engine checks the answer against
the current screen, so a form whose ``key`` or ``type`` does not fit it is refused, never misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cati.questionnaires.engine import Screen
from cati.questionnaires.render import format_number

from ..resources import parse_id

SPECIALS = ("DK", "REF", "NA")


@dataclass
class Entered:
    """A screen's form values as strings: what the inputs show."""

    chosen: set[str] = field(default_factory=set)  # single, multi, nps: option codes
    text: str = ""  # numeric, text, date
    rows: dict[int, str] = field(default_factory=dict)  # grid: row code -> code or special
    others: dict[str, str] = field(default_factory=dict)  # specify texts by answer key
    special: str | None = None  # the stored special of the whole screen


@dataclass(frozen=True)
class Submission:
    value: Any
    others: dict[str, str]
    confirm: tuple[int, ...]
    special: str | None
    entered: Entered


def _as_text(screen: Screen, value: Any) -> str:
    if value is None:
        return ""
    if screen.type == "numeric" and isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value, screen.lang, screen.decimals or None)
    return str(value)


def entered_from_existing(screen: Screen) -> Entered:
    """The stored answer (revisiting a question) as form values."""
    existing = screen.existing
    entered = Entered(others={k: str(v) for k, v in (screen.others or {}).items() if v is not None})
    if isinstance(existing, str) and existing in SPECIALS:
        entered.special = existing
        return entered
    if screen.type == "grid":
        entered.rows = {int(code): str(value) for code, value in (existing or {}).items() if value is not None}
    elif screen.type in ("single", "nps"):
        if existing is not None:
            entered.chosen = {str(existing)}
    elif screen.type == "multi":
        entered.chosen = {str(code) for code in (existing or [])}
    elif existing is not None:
        entered.text = _as_text(screen, existing)
    elif screen.default:
        entered.text = screen.default
    return entered


def _confirmed(raw: str) -> tuple[int, ...]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if (number := parse_id(part)) is not None:
            out.append(number)
    return tuple(out)


def parse_submission(kind: str, post: Any) -> Submission:
    """The engine's ``value``/``others``/``confirm_soft`` from a POSTed answer form of a screen of
    type ``kind`` (the form says which; the engine refuses an answer that does not fit)."""
    special = post.get("special") or None
    if special not in SPECIALS:
        special = None
    others = {name[len("other-"):]: text for name, text in post.items()
              if name.startswith("other-") and isinstance(text, str)}
    entered = Entered(others={k: v for k, v in others.items() if v})
    confirm = _confirmed(post.get("confirm", ""))
    value: Any
    if kind == "grid":
        rows = {}
        for name, raw in post.items():
            if name.startswith("row-") and raw and (code := parse_id(name[len("row-"):])) is not None:
                rows[code] = raw
        entered.rows = dict(rows)
        value = rows
    elif special is not None:
        entered.special = special
        value = [special] if kind == "multi" else special
    elif kind == "multi":
        codes = [c for c in post.getall("value") if c]
        entered.chosen = set(codes)
        value = codes
    elif kind in ("single", "nps"):
        raw = post.get("value", "")
        entered.chosen = {raw} if raw else set()
        value = raw or None
    elif kind == "info":
        value = None
    else:
        raw = post.get("value", "")
        entered.text = raw
        value = raw if kind == "text" else (raw.strip() or None)
    return Submission(value, others, confirm, special, entered)
