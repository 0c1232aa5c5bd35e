"""Fieldwork settings of a study: names, types, defaults and validation.

``cati study set SLUG KEY=VALUE...`` and the settings form both go through :func:`parse_changes`,
so the command line and the web UI accept exactly the same keys and give the same messages.
Defaults follow the ADM guideline (10 attempts per number, 4 per day) and common CATI practice
for retry delays; the calling-hours profile defaults by purpose (research -> ``adm``, customer
satisfaction and telemarketing -> ``ddv``, see domain notes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROFILES = ("adm", "ddv", "custom")
PURPOSE_PROFILE = {"research": "adm", "customer_satisfaction": "ddv", "telemarketing": "ddv"}
#: Consent rule by purpose: research needs no consent; after-sales satisfaction calls count as
#: advertising in German case law (OLG Köln 6 U 191/11), so they need consent like telemarketing.
PURPOSE_LEGAL_BASIS = {"research": "none", "customer_satisfaction": "consent", "telemarketing": "consent"}
STATUSES = ("draft", "field", "paused", "closed")
_WINDOW_RE = re.compile(
    r"^\s*(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?\s+"
    r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)\s*$"
)


class SettingsError(ValueError):
    """A rejected setting; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return number

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _share(value: str) -> float:
    """``0.1`` or ``10%``: a share between 0 and 1."""
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"expected a share such as 0.1 or 10%, got {value!r}") from None
    if not 0 <= number <= 1:
        raise ValueError("must lie between 0 and 1 (0 % and 100 %)")
    return number


def _text(max_length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"at most {max_length} characters")
        return value

    return parse


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def parse_windows(value: str) -> list[list[Any]]:
    """``"mon-fri 09:00-21:00; sat 10:00-20:00"`` -> ``[[first_day, last_day, "09:00", "21:00"], ...]``
    with days 0 (Monday) to 6 (Sunday)."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    windows: list[list[Any]] = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        match = _WINDOW_RE.match(part)
        if not match:
            raise ValueError(f"cannot read window {part!r}; write e.g. 'mon-fri 09:00-21:00; sat 10:00-20:00'")
        first, last, h1, m1, h2, m2 = match.groups()
        start, end = f"{h1}:{m1}", f"{h2}:{m2}"
        if end <= start:
            raise ValueError(f"window {part!r} ends before it starts")
        first_day = days.index(first)
        last_day = days.index(last or first)
        if last_day < first_day:
            raise ValueError(f"window {part!r}: day range runs backwards")
        windows.append([first_day, last_day, start, end])
    if not windows:
        raise ValueError("no window given")
    return windows


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("calling_profile", _choice(*PROFILES), None, "adm, ddv or custom; default by purpose"),
    Setting("calling_windows", parse_windows, None, "custom weekly windows: mon-fri 09:00-20:00; sat 10:00-16:00"),
    Setting("allow_sunday_holiday", _bool, False, "adm only: also call Sundays/holidays 10:00-18:00"),
    Setting("expected_duration", _int(1, 240), 15, "minutes; a case is due only if the call can end in the window"),
    Setting("legal_basis", _choice("none", "consent"), None, "none or consent; default by purpose"),
    Setting("max_attempts", _int(1, 50), 10, "attempts per case (ADM: 10)"),
    Setting("max_attempts_per_day", _int(1, 20), 4, "attempts per case and day (ADM: 4)"),
    Setting("retry.no_answer", _int(1, 100_000), 120, "minutes before retrying after no answer"),
    Setting("retry.busy", _int(1, 100_000), 15, "minutes before retrying after busy"),
    Setting("retry.answering_machine", _int(1, 100_000), 240, "minutes before retrying after an answering machine"),
    Setting("retry.soft_refusal", _int(1, 100_000), 10080, "minutes before retrying after a soft refusal"),
    Setting("appointment_grace", _int(0, 1440), 15, "minutes a hard appointment waits for its interviewer"),
    Setting("priority", _int(0, 100), 50, "delivery priority of the study among an interviewer's studies"),
    Setting("quota_priority", _bool, False, "deliver cases of under-filled quota cells first"),
    Setting("target_completes", _int(1, 10_000_000), None, "completes the client ordered (dashboard, portal)"),
    Setting("backcheck_share", _share, 0.10, "share of each interviewer's completes drawn for back-checks"),
    Setting("aapor_e", _share, None, "eligibility estimate e for RR3/RR4/REF2/CON2 (default: proportional)"),
    Setting("aapor_e_basis", _text(300), None, "the stated basis of a supervisor's e (required with aapor_e)"),
)
_BY_KEY = {s.key: s for s in SETTINGS}


def _share(value: str) -> float:
    """``0.1`` or ``10%``: a share between 0 and 1."""
    text = value.strip()
    try:
        share = float(text[:-1].replace(",", ".")) / 100 if text.endswith("%") else float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"expected a share like 0.1 or 10%, got {value!r}") from None
    if not 0 <= share <= 1:
        raise ValueError("must be between 0 and 1 (0 % and 100 %)")
    return share


#: Per-quota keys besides cell targets: ``quota.<quota>.mode`` and ``quota.<quota>.overshoot``
#: (stored under that key; a cell of the same name keeps meaning the cell's target).
QUOTA_KEYS: dict[str, Callable[[str], Any]] = {"mode": _choice("hard", "soft", "counter"), "overshoot": _share}
_QUOTA_KEY = re.compile(r"^quota\.([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$")
_OUTCOME_KEY = re.compile(r"^outcome\.([a-z][a-z0-9_]{0,31})\.([a-z_]+)$")


def _eligible(value: str) -> bool | str:
    """yes, no or unknown (stored as the word: a stored None means "take the change back")."""
    if value.strip().lower() in {"unknown", "?"}:
        return "unknown"
    return _bool(value)


#: What a study may change in its outcome table, ``outcome.<code>.<field>=VALUE`` (an empty value
#: takes the change back). A new code needs label_de, label_en, aapor and final; it is offered to
#: interviewers after the default ones. Retry delays of outcomes that have a ``retry.*`` setting
#: are changed there; ``default_delay`` is the delay of the others.
OUTCOME_FIELDS: dict[str, Callable[[str], Any]] = {
    "label_de": _text(80), "label_en": _text(80), "aapor": _text(8), "final": _bool,
    "default_delay": _int(0, 525_600), "contacted": _bool, "eligible": _eligible, "note_required": _bool,
    "try_other_number": _bool, "precedence": _int(0, 1000),
}


def outcome_overrides(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{code: {field: value}}`` from a study's ``outcome.<code>.<field>`` settings."""
    overrides: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        match = _OUTCOME_KEY.match(key)
        if match and value is not None:
            field = match.group(2)
            unknown = field == "eligible" and value == "unknown"  # stored as the word, see _eligible
            overrides.setdefault(match.group(1), {})[field] = None if unknown else value
    return overrides


def defaults(purpose: str) -> dict[str, Any]:
    values = {s.key: s.default for s in SETTINGS}
    values["calling_profile"] = PURPOSE_PROFILE.get(purpose, "adm")
    values["legal_basis"] = PURPOSE_LEGAL_BASIS.get(purpose, "none")
    return values


def effective(purpose: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored settings over the defaults for the purpose."""
    values = defaults(purpose)
    values.update({k: v for k, v in stored.items() if v is not None})
    return values


def parse_changes(
    changes: Mapping[str, str], quota_cells: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, int | None]], str | None]:
    """Parse ``KEY=VALUE`` changes. Returns (settings, quota targets, new status).

    Raises :class:`SettingsError` for the first bad key; callers apply nothing in that case.
    ``quota_cells`` maps each quota id of the current questionnaire to its cell ids.
    """
    settings: dict[str, Any] = {}
    targets: dict[str, dict[str, int | None]] = {}
    status: str | None = None
    for key, raw in changes.items():
        value = raw.strip()
        if key == "status":
            if value not in STATUSES:
                raise SettingsError(key, f"must be one of {', '.join(STATUSES)}")
            status = value
            continue
        match = _QUOTA_KEY.match(key)
        if match:
            quota, cell = match.groups()
            if quota_cells is None or quota not in quota_cells:
                known = ", ".join(sorted(quota_cells or {})) or "none"
                raise SettingsError(key, f"unknown quota {quota!r} (quotas: {known})")
            if cell in QUOTA_KEYS and cell not in quota_cells[quota]:
                try:
                    settings[key] = QUOTA_KEYS[cell](value)
                except ValueError as exc:
                    raise SettingsError(key, str(exc)) from None
                continue
            if cell not in quota_cells[quota]:
                raise SettingsError(key, f"unknown cell {cell!r} (cells: {', '.join(quota_cells[quota])})")
            if value.lower() in {"null", "none", ""}:
                targets.setdefault(quota, {})[cell] = None
            else:
                try:
                    targets.setdefault(quota, {})[cell] = _int(0, 10_000_000)(value)
                except ValueError as exc:
                    raise SettingsError(key, str(exc)) from None
            continue
        match = _OUTCOME_KEY.match(key)
        if match:
            parse = OUTCOME_FIELDS.get(match.group(2))
            if parse is None:
                raise SettingsError(key, f"outcomes have no field {match.group(2)!r} to change here "
                                         f"(fields: {', '.join(OUTCOME_FIELDS)})")
            try:
                settings[key] = None if value == "" else parse(value)
            except ValueError as exc:
                raise SettingsError(key, str(exc)) from None
            continue
        setting = _BY_KEY.get(key)
        if setting is None:
            raise SettingsError(key, f"unknown setting; known: status, quota.<quota>.<cell>, quota.<quota>.mode, "
                                     f"quota.<quota>.overshoot, outcome.<code>.<field>, {', '.join(_BY_KEY)}")
        try:
            settings[key] = setting.parse(value)
        except ValueError as exc:
            raise SettingsError(key, str(exc)) from None
    return settings, targets, status
