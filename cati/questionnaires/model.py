"""The compiled questionnaire: what the checker produces and the engine, codebook and exports consume.

Everything here is immutable plain data, built once per questionnaire version (by
``cati.questionnaires.compiler``) and shared by every interview running on that version, so
the engine never re-parses YAML or expressions on the hot path.

Conventions that the whole package relies on:

* Texts keep the raw string per language (for labels and the codebook) *and* the parsed fill
  template per language (for rendering), see :class:`Text`.
* Expressions are parsed once (:class:`cati.questionnaires.expressions.Expr`).
* Answers are keyed by their *answer key*: the question id, a grid row ``<id>_<row>``, a loop
  iteration ``<id>_<code>`` (nested loops append further suffixes), or the ``other.id`` of a
  "specify" text. Export variable names derive from the same keys.
* A special answer (don't know, refused, not applicable) is a state, stored as the name
  ``"DK"``/``"REF"``/``"NA"``; its numeric code exists only in exports (``special_codes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .expressions import Expr

SPECIAL_NAMES = ("DK", "REF", "NA")
DEFAULT_SPECIAL_CODES: Mapping[str, int] = {"NA": 97, "DK": 98, "REF": 99}

QuestionType = Literal["single", "multi", "numeric", "text", "date", "grid", "nps", "computed"]
Randomize = Literal["shuffle", "rotate", "reverse"]


@dataclass(frozen=True, slots=True)
class Pos:
    """1-based line and column of a node in its YAML file, for ``FILE:LINE:COL`` messages."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One ``{...}`` placeholder of a text.

    kind: ``var`` ({x}), ``label`` ({x:label}), ``expr`` ({=expr}), ``loop_label`` ({$label}),
    ``loop_code`` ({$code}), ``interviewer`` ({$interviewer}).
    """

    kind: Literal["var", "label", "expr", "loop_label", "loop_code", "interviewer"]
    name: str | None = None
    expr: Expr | None = None


Template = tuple[str | Fill, ...]


@dataclass(frozen=True, slots=True)
class Text:
    """A text in every language of the questionnaire: raw strings plus parsed fill templates."""

    raw: Mapping[str, str]
    parts: Mapping[str, Template]

    def language_for(self, lang: str) -> str:
        """``lang``, or the first language when the text is empty there (a loop item's ``$label``)."""
        return lang if self.raw.get(lang) else next(iter(self.raw), lang)


@dataclass(frozen=True, slots=True)
class Variant:
    """An alternative question text used when ``condition`` is the first to hold."""

    condition: Expr
    text: Text


@dataclass(frozen=True, slots=True)
class Other:
    """The "specify" text attached to an option; stored under its own answer key ``id``."""

    id: str
    max_length: int


@dataclass(frozen=True, slots=True)
class Option:
    """An answer option, or a grid row (rows use the same shape)."""

    code: int
    text: Text
    pos: Pos
    show_if: Expr | None = None
    fixed: bool = False
    exclusive: bool = False
    other: Other | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """An explicit check; ``index`` is its position in the question's ``checks`` (for paradata)."""

    expr: Expr
    severity: Literal["hard", "soft"]
    message: Text
    index: int
    pos: Pos


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    pos: Pos
    show_if: Expr | None


@dataclass(frozen=True, slots=True)
class Question(Node):
    type: QuestionType
    text: Text | None  # None only for ``computed``
    label: Mapping[str, str] | None = None  # raw per language; may contain ``{$label}`` in loops
    instruction: Text | None = None
    variants: tuple[Variant, ...] = ()
    special: tuple[str, ...] = ()  # allowed specials, subset of SPECIAL_NAMES, in declared order
    special_codes: Mapping[str, int] = field(default_factory=dict)  # export codes for this question
    checks: tuple[Check, ...] = ()
    required: bool = True
    default: Text | None = None  # a fill template (e.g. "{kd_tel}") rendered as the prefilled value
    pii: bool = False
    # single / multi / grid (grid: options are the scale, rows are the items)
    options: tuple[Option, ...] = ()
    read_out: bool = True
    randomize: Randomize | None = None
    min_choices: int | None = None
    max_choices: int | None = None
    rows: tuple[Option, ...] = ()
    randomize_rows: Randomize | None = None
    # numeric (nps is numeric 0..10 with decimals 0)
    min: float | None = None
    max: float | None = None
    decimals: int = 0
    unit: Text | None = None
    # text
    max_length: int | None = None
    lines: int = 1
    # date: ISO date literal or an expression
    min_date: dt.date | Expr | None = None
    max_date: dt.date | Expr | None = None
    # computed
    expr: Expr | None = None
    when: Expr | None = None
    value_type: Literal["numeric", "string", "date"] = "numeric"  # date: stored ISO, read back as a date
    # nps: labels of the scale ends (codes 0 and 10), for display and value labels
    scale_labels: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class Info(Node):
    text: Text
    instruction: Text | None = None


@dataclass(frozen=True, slots=True)
class Block(Node):
    body: tuple[Node, ...]
    randomize: Literal["shuffle", "rotate"] | None = None


@dataclass(frozen=True, slots=True)
class Loop(Node):
    """Runs ``body`` once per item.

    Items come from ``over`` (a single/multi variable: its selected codes, labels from its
    options), from ``items`` (a named list: every option), or from ``count`` (1..count, capped
    by ``max``). ``where`` filters items and may use ``$code``/``$label``.
    """

    body: tuple[Node, ...]
    over: str | None = None
    items: tuple[Option, ...] | None = None
    where: Expr | None = None
    count: Expr | None = None
    max: int | None = None
    # every item the loop can ever run over (options of ``over``/``items`` after a ``where`` that
    # uses only $code/$label; 1..max for count loops): the iterations that get export variables
    export_items: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class QuotaCheckpoint(Node):
    """``- quota: <id>``; ``id`` is ``"quota:<quota id>"``."""

    quota: str


@dataclass(frozen=True, slots=True)
class End(Node):
    """``- end: <disposition>``; ``id`` is ``"end:<n>"`` (n = 1-based order in the file)."""

    disposition: str
    condition: Expr | None = None
    text: Text | None = None


def named(node_id: object) -> bool:
    """False for the internal ids of ends and quota checkpoints (``end:3``, ``quota:q``): the file
    gives those nodes no id, so a block's exported order (§8: its children's ids) leaves them out."""
    return not (isinstance(node_id, str) and ":" in node_id)


@dataclass(frozen=True, slots=True)
class Disposition:
    name: str
    code: int
    aapor: str  # "1.1" for COMPLETE


@dataclass(frozen=True, slots=True)
class QuotaCell:
    id: str
    condition: Expr
    target: int | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Quota:
    id: str
    on_full: str  # a disposition name
    cells: tuple[QuotaCell, ...]
    pos: Pos
    mode: Literal["hard", "soft", "counter"] = "hard"
    overshoot: float = 0.0  # share a soft quota may exceed its target by (0.1 = 10 %)
    sample_only: bool = False  # every cell uses only sample fields: known before the call


@dataclass(frozen=True, slots=True)
class SampleField:
    name: str
    type: Literal["single", "text", "numeric", "date"]
    options: tuple[Option, ...] = ()
    pii: bool = False
    label: Mapping[str, str] | None = None  # SPSS variable label per language (default: the name)


@dataclass(frozen=True, slots=True)
class ExportVariable:
    """One column of every data export, as ``cati codebook`` lists it.

    ``kind`` says how the engine's stored state becomes the value:
    ``value`` (the answer under ``answer_key``; specials -> their code), ``dichotomy`` (1 if
    ``code`` is among the answer's codes, 0 if answered otherwise; for a special ``code`` is the
    special's export code and the variable is 1 when that special was given), ``order`` (the
    stored shown order of ``answer_key``), ``quota`` (1-based cell position), ``paradata``.
    """

    name: str
    label: str
    kind: Literal["value", "dichotomy", "order", "quota", "paradata"]
    answer_key: str | None
    spss_type: Literal["numeric", "string", "date", "datetime"]
    spss_format: str  # "F2.0", "A80", "DATE10", "DATETIME20"
    measure: Literal["nominal", "ordinal", "scale"]
    question_id: str | None = None
    code: int | None = None
    value_labels: Mapping[int, str] = field(default_factory=dict)
    missing: tuple[int, ...] = ()  # user-missing codes (specials), at most three
    mr_set: str | None = None  # "$K1" for multi dichotomies
    width: int | None = None  # strings: declared byte width
    pii: bool = False
    text: str | None = None  # question text in the default language, for the Excel codebook
    show_if: str | None = None  # source of the effective condition, for the Excel codebook
    special: str | None = None  # for a special's dichotomy: "DK"/"REF"/"NA"


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    version: int
    title: Text
    languages: tuple[str, ...]
    dispositions: Mapping[str, Disposition]
    flow: tuple[Node, ...]
    special_labels: Mapping[str, Text] = field(default_factory=dict)
    special_defaults: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SPECIAL_CODES))
    lists: Mapping[str, tuple[Option, ...]] = field(default_factory=dict)
    sample: tuple[SampleField, ...] = ()
    quotas: tuple[Quota, ...] = ()
    source_name: str = "<questionnaire>"

    @property
    def default_language(self) -> str:
        return self.languages[0]
