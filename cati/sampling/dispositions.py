"""Call outcomes and case dispositions (AAPOR Standard Definitions, Table 1, RDD telephone).

The outcome table is data: each :class:`Outcome` carries its AAPOR code, rate class, whether it
ends the case, the retry-delay setting, contacted/eligible flags and interviewer hints (the same
shape as queXS's outcome table). A study may edit it (:func:`customise`).

Code choices where AAPOR leaves room (all editable per study):

* answering machine (message left / not left) -> 3.14 "answering machine, don't know if household"
  (UH). AAPOR's 2.221/2.222 (NC, eligible) require the household to be *confirmed*; interviewers
  cannot confirm that from a greeting reliably in RDD work. A list-sample study whose greeting
  names the respondent may switch them to 2.221/2.222.
* appointments (soft and hard) -> 2.21 "respondent never available" (NC): a household member
  was reached, so eligibility is known; if no interview follows, that is AAPOR's final code.
* soft/hard refusal and do-not-call -> 2.11 refusal (R); break-off -> 2.12 (R), temporary
  because a CATI break-off is normally called back to resume; the engine records ``partial``
  (1.2, P) when it closes a break-off with enough answers.
* fax/data line 4.20, not in service 4.30, wrong person / not eligible 4.70 (NE), screened out
  4.70, quota full 4.80, language barrier 2.33 (O, final: no interviewer for the language).
* max attempts -> 3.90 (UO, as queXS) - but only when no attempt says more (see
  :func:`current_disposition`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from cati.sampling.aapor import aapor_rates

__all__ = [
    "DEFAULT_OUTCOMES",
    "RATE_CLASSES",
    "Disposition",
    "Outcome",
    "aapor_rates",
    "count_rate_classes",
    "current_disposition",
    "customise",
    "default_table",
    "rate_class_for",
    "retry_delay",
]

RATE_CLASSES = ("I", "P", "R", "NC", "O", "UH", "UO", "NE")
SOURCES = ("interviewer", "engine", "questionnaire", "system")
_AAPOR_CODE = re.compile(r"^[1-4]\.\d{1,3}$")


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    label_de: str
    label_en: str
    aapor: str
    rate_class: str
    final: bool
    #: fieldwork setting holding the retry delay in minutes (``retry.no_answer``); None = no key
    retry_key: str | None = None
    #: delay in minutes when the study has no value for ``retry_key`` (or there is no key)
    default_delay: int | None = None
    contacted: bool = False
    #: True eligible, False not eligible, None unknown
    eligible: bool | None = None
    note_required: bool = False
    try_other_number: bool = False
    adds_to_dnc: bool = False
    #: who sets it: interviewer, engine, questionnaire (end dispositions) or system
    source: str = "interviewer"
    #: higher = more informative; decides the case's disposition (see current_disposition)
    precedence: int = 0
    #: ends the case without saying anything about it (max attempts): the most informative
    #: earlier outcome becomes the final disposition
    closing: bool = False


#: AAPOR code prefixes and their rate classes (as in domain notes / outcomerate), the more specific
#: first: the first prefix a code starts with decides.
RATE_CLASS_PREFIXES = (
    ("1.1", "I"), ("1.2", "P"), ("2.1", "R"), ("2.2", "NC"), ("2.", "O"), ("3.1", "UH"), ("3.", "UO"), ("4.", "NE"),
)
#: The rate classes of attempts that reached a person.
CONTACT_CLASSES = frozenset({"I", "P", "R", "O"})


def rate_class_for(aapor: str) -> str:
    """AAPOR code -> rate class (I, P, R, NC, O, UH, UO, NE)."""
    for prefix, rate_class in RATE_CLASS_PREFIXES:
        if aapor.startswith(prefix):
            return rate_class
    raise ValueError(f"not an AAPOR disposition code: {aapor!r}")


def _o(code: str, de: str, en: str, aapor: str, final: bool, precedence: int, **kw: Any) -> Outcome:
    return Outcome(code, de, en, aapor, rate_class_for(aapor), final, precedence=precedence, **kw)


# Precedence tiers. Final: interview results > refusals > other finals > dead numbers.
# Temporary: contact with a person > answering machine > no answer > busy (AAPOR 3.12 "always
# busy" only applies when every attempt was busy).
DEFAULT_OUTCOMES: tuple[Outcome, ...] = (
    _o("no_answer", "Keine Antwort", "No answer", "3.13", False, 10,
       retry_key="retry.no_answer", default_delay=120),
    _o("busy", "Besetzt", "Busy", "3.12", False, 5, retry_key="retry.busy", default_delay=15),
    _o("answering_machine_message", "Anrufbeantworter, Nachricht hinterlassen",
       "Answering machine, message left", "3.14", False, 20,
       retry_key="retry.answering_machine", default_delay=240),
    _o("answering_machine_no_message", "Anrufbeantworter, keine Nachricht",
       "Answering machine, no message left", "3.14", False, 20,
       retry_key="retry.answering_machine", default_delay=240),
    _o("fax", "Fax/Datenleitung", "Fax or data line", "4.20", True, 40, eligible=False, try_other_number=True),
    _o("not_in_service", "Kein Anschluss unter dieser Nummer", "Number not in service", "4.30", True, 40,
       eligible=False, try_other_number=True),
    _o("not_eligible", "Falsche Person / nicht zur Zielgruppe", "Wrong person / not eligible", "4.70", True, 50,
       contacted=True, eligible=False, note_required=True),
    _o("appointment_soft", "Termin (unverbindlich)", "Appointment (soft)", "2.21", False, 30,
       contacted=True, eligible=True),
    _o("appointment_hard", "Termin (fest)", "Appointment (hard)", "2.21", False, 30,
       contacted=True, eligible=True),
    _o("soft_refusal", "Weiche Verweigerung", "Soft refusal", "2.11", False, 30,
       retry_key="retry.soft_refusal", default_delay=10080, contacted=True, eligible=True, note_required=True),
    _o("hard_refusal", "Verweigerung", "Hard refusal", "2.11", True, 70,
       contacted=True, eligible=True, note_required=True),
    _o("do_not_call", "Nie wieder anrufen", "Do not call again", "2.11", True, 70,
       contacted=True, eligible=True, adds_to_dnc=True),
    _o("language_barrier", "Sprachbarriere", "Language barrier", "2.33", True, 60,
       contacted=True, eligible=True, note_required=True),
    _o("break_off", "Abbruch im Interview", "Break-off", "2.12", False, 30,
       default_delay=60, contacted=True, eligible=True, note_required=True),
    _o("partial", "Teilinterview", "Partial interview", "1.2", True, 90,
       contacted=True, eligible=True, source="engine"),
    _o("complete", "Vollständiges Interview", "Complete", "1.1", True, 100,
       contacted=True, eligible=True, source="engine"),
    _o("screened_out", "Nicht zur Zielgruppe (Screening)", "Screened out", "4.70", True, 80,
       contacted=True, eligible=False, source="questionnaire"),
    _o("quota_full", "Quote erfüllt", "Quota full", "4.80", True, 80,
       contacted=True, eligible=False, source="questionnaire"),
    _o("max_attempts", "Maximale Kontaktversuche erreicht", "Maximum attempts reached", "3.90", True, 0,
       source="system", closing=True),
)


def default_table() -> dict[str, Outcome]:
    """The default outcome table, keyed by code (a fresh dict a study may change)."""
    return {o.code: o for o in DEFAULT_OUTCOMES}


_FIELD_NAMES = {f.name for f in fields(Outcome)}


def customise(overrides: Mapping[str, Mapping[str, Any]], base: Mapping[str, Outcome] | None = None
              ) -> dict[str, Outcome]:
    """A study's table: ``base`` (default table) with per-outcome field overrides, e.g.
    ``{"answering_machine_message": {"aapor": "2.221"}}``; new codes need every field.

    Changing ``aapor`` without ``rate_class`` recomputes the class. Raises ValueError naming the
    outcome and field for anything inconsistent.
    """
    table = dict(base if base is not None else default_table())
    for code, changes in overrides.items():
        unknown = set(changes) - _FIELD_NAMES
        if unknown:
            raise ValueError(f"outcome {code}: unknown field(s) {', '.join(sorted(unknown))}")
        values = dict(changes)
        if "aapor" in values and "rate_class" not in values:
            if not _AAPOR_CODE.match(str(values["aapor"])):
                raise ValueError(_not_aapor(code, values["aapor"]))
            values["rate_class"] = rate_class_for(str(values["aapor"]))
        if code in table:
            current = table[code]
            if (current.source != "interviewer" or current.closing) and set(values) - _LABELS:
                # complete, partial, the questionnaire's endings, max_attempts: what they do is the
                # engine's and the attempt limit's (a complete that is not final is called again)
                raise ValueError(f"outcome {code}: set by the {current.source}, not chosen by interviewers: "
                                 "only its labels may change")
            if "default_delay" in values and current.retry_key:
                raise ValueError(f"outcome {code}: its retry delay is the setting {current.retry_key}")
            outcome = replace(current, **values)
        else:
            try:
                outcome = Outcome(**{"code": code, **values})
            except TypeError as exc:
                raise ValueError(f"outcome {code}: {exc}") from None
        _check(outcome)
        table[code] = outcome
    return table


_LABELS = frozenset({"label_de", "label_en"})


def _not_aapor(code: str, aapor: object) -> str:
    return f"outcome {code}: aapor {aapor!r} is not an AAPOR code such as 3.13"


def _check(outcome: Outcome) -> None:
    where = f"outcome {outcome.code}"
    if outcome.code.startswith("appointment") and outcome.final:
        raise ValueError(f"{where}: an appointment is never final (the case is called at the agreed time)")
    if outcome.adds_to_dnc and not outcome.final:
        raise ValueError(f"{where}: do not call again is always final")
    if not _AAPOR_CODE.match(outcome.aapor):
        raise ValueError(_not_aapor(outcome.code, outcome.aapor))
    if outcome.rate_class not in RATE_CLASSES:
        raise ValueError(f"{where}: rate_class must be one of {', '.join(RATE_CLASSES)}")
    if outcome.rate_class != rate_class_for(outcome.aapor):
        raise ValueError(f"{where}: rate_class {outcome.rate_class} does not match AAPOR code {outcome.aapor}")
    if outcome.source not in SOURCES:
        raise ValueError(f"{where}: source must be one of {', '.join(SOURCES)}")
    if outcome.default_delay is not None and outcome.default_delay < 0:
        raise ValueError(f"{where}: default_delay must not be negative")


def retry_delay(outcome: Outcome, settings: Mapping[str, Any]) -> int | None:
    """Minutes before the next attempt after ``outcome``: the study's setting for its
    ``retry_key``, else its ``default_delay``; None for final outcomes and appointments."""
    if outcome.final:
        return None
    if outcome.retry_key and settings.get(outcome.retry_key) is not None:
        return int(settings[outcome.retry_key])
    return outcome.default_delay


@dataclass(frozen=True, slots=True)
class Disposition:
    """A case's current disposition: the deciding outcome, and whether the case is closed."""

    outcome: Outcome
    final: bool

    @property
    def code(self) -> str:
        return self.outcome.code

    @property
    def aapor(self) -> str:
        return self.outcome.aapor

    @property
    def rate_class(self) -> str:
        return self.outcome.rate_class


def current_disposition(
    outcomes: Sequence[str | Outcome], table: Mapping[str, Outcome] | None = None
) -> Disposition | None:
    """The case's disposition from its attempt outcomes in call order (None: never attempted).

    Precedence (AAPOR: a final outcome is final; otherwise the final code of a closed case is the
    most informative temporary one, not simply the last):

    1. Any final outcome decides; among several, the highest ``precedence`` wins (a complete
       stays complete when the respondent then asks not to be called again), ties -> the later.
    2. Otherwise the temporary outcome with the highest ``precedence`` decides, ties -> the
       later: a refusal, appointment or break-off (contact with the household) beats later
       no-answers, an answering machine beats no answer, no answer beats busy.
    3. A ``closing`` outcome (max attempts) makes that temporary disposition final; alone it is
       its own disposition (3.90).
    """
    lookup = table if table is not None else _DEFAULT_LOOKUP
    resolved = [lookup[o] if isinstance(o, str) else o for o in outcomes]
    if not resolved:
        return None
    finals = [(o.precedence, i, o) for i, o in enumerate(resolved) if o.final and not o.closing]
    if finals:
        return Disposition(max(finals, key=lambda t: (t[0], t[1]))[2], True)
    temporary = [(o.precedence, i, o) for i, o in enumerate(resolved) if not o.final]
    closed = any(o.closing for o in resolved)
    if temporary:
        return Disposition(max(temporary, key=lambda t: (t[0], t[1]))[2], closed)
    closer = next(o for o in reversed(resolved) if o.closing)
    return Disposition(closer, True)


def count_rate_classes(dispositions: Iterable[Disposition | Outcome | None]) -> dict[str, int]:
    """Counts per rate class for :func:`cati.sampling.aapor.aapor_rates`. A case never attempted
    (None) counts as 3.11 "not attempted" (UH)."""
    counts: Counter[str] = Counter(dict.fromkeys(RATE_CLASSES, 0))
    for item in dispositions:
        counts["UH" if item is None else item.rate_class] += 1
    return dict(counts)


_DEFAULT_LOOKUP = default_table()
