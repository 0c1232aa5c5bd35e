"""Structure of a ``cati/1`` file (questionnaire-format §1, §3, §7, §8, §9) as colander schemas.

The schemas work on the positioned tree of :mod:`.yamlload`, so every problem keeps its
``LINE:COL``. colander's own ``Mapping`` stops at the first bad child and knows no positions, so
the types here are small colander ``SchemaType``\\ s that *collect* every problem of a node
(wrong type, missing key, unknown key with a "did you mean" hint) before raising one
:class:`StructureError`.

Granularity: the top level, each section entry and each flow node are validated on their own
(bodies of blocks and loops are passed through as raw lists and validated node by node by the
compiler). A broken question therefore only removes that question from the semantic checks;
all other problems of the file are still reported.

Values come back as :class:`Fields` (a dict that remembers positions), :class:`Src` (a string
with its YAML scalar, for expression/fill offsets) and :class:`RawText` (a text as written:
plain string or language map).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import colander

from .model import Pos
from .names import did_you_mean
from .yamlload import Node, Scalar, YMap, YSeq, describe

LANG_RE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?\Z")
MAX_INT = 10**15  # doubles hold integers exactly up to 2^53 ≈ 9.007e15


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Src:
    """A string as written, with the scalar it came from (for ``LINE:COL`` of offsets)."""

    text: str
    node: Scalar

    @property
    def pos(self) -> Pos:
        return self.node.pos

    def at(self, offset: int | None) -> Pos:
        return self.node.at(offset)


@dataclass(slots=True)
class RawText:
    """A text as written: a plain string (``plain``) or a language map (``langs``)."""

    pos: Pos
    plain: Src | None = None
    langs: dict[str, Src] = field(default_factory=dict)
    lang_pos: dict[str, Pos] = field(default_factory=dict)


class Fields(dict):
    """A validated mapping: values by key plus the positions of the mapping, keys and values."""

    def __init__(self, node: YMap) -> None:
        super().__init__()
        self.pos = node.pos
        self.key_pos = node.key_pos
        self.nodes = node.items

    def at(self, key: str) -> Pos:
        """Where the value of ``key`` starts (the mapping itself when the key is absent)."""
        node = self.nodes.get(key)
        return node.pos if node is not None else self.pos

    def key_at(self, key: str) -> Pos:
        return self.key_pos.get(key, self.pos)


class PList(list):
    """A validated list that remembers its own position and its items' positions."""

    def __init__(self, node: YSeq) -> None:
        super().__init__()
        self.pos = node.pos
        self.item_pos = [item.pos for item in node.items]


# --------------------------------------------------------------------------- errors


class StructureError(colander.Invalid):
    """All problems of one validated node, each with its position."""

    def __init__(self, node: colander.SchemaNode, problems: list[tuple[Pos, str]]) -> None:
        super().__init__(node, "; ".join(message for _, message in problems))
        self.problems = problems


def _fail(node: colander.SchemaNode, where: Node, message: str) -> StructureError:
    return StructureError(node, [(where.pos, message)])


def _problems_of(exc: colander.Invalid, where: Node, key: str | None) -> list[tuple[Pos, str]]:
    if isinstance(exc, StructureError):
        return exc.problems
    message = "; ".join(str(m) for m in exc.messages()) if exc.msg is not None else "invalid value"
    return [(where.pos, f"{key}: {message}" if key else message)]


# --------------------------------------------------------------------------- scalar types


class _ScalarType(colander.SchemaType):
    """Base: accepts only a YAML scalar; ``null`` counts as missing for required keys."""

    expected = "a value"

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> object:
        if not isinstance(cstruct, Scalar):
            raise _fail(node, cstruct, f"{node.name}: expected {self.expected}, found {describe(cstruct)}")
        if cstruct.value is None and not getattr(self, "nullable", False):
            raise _fail(node, cstruct, f"{node.name}: expected {self.expected}, found nothing (null)")
        return self.convert(node, cstruct)

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> object:
        raise NotImplementedError


class Word(_ScalarType):
    """A name or keyword; the source text is used, so ``id: yes`` means the word "yes"."""

    expected = "a word"

    def __init__(self, pattern: re.Pattern[str] | None = None, choices: Iterable[str] = (), hint: str = "") -> None:
        self.pattern = pattern
        self.choices = tuple(choices)
        self.hint = hint

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> str:
        text = cstruct.text
        if self.choices and text not in self.choices:
            options = ", ".join(self.choices)
            raise _fail(
                node, cstruct, f"{node.name}: {text!r} is not one of {options}{did_you_mean(text, self.choices)}"
            )
        if self.pattern is not None and not self.pattern.match(text):
            raise _fail(node, cstruct, f"{node.name}: {text!r} {self.hint or 'has an invalid form'}")
        return text


class SourceText(_ScalarType):
    """A string kept with its scalar (expressions, fill templates)."""

    expected = "a text"

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> Src:
        return Src(cstruct.text, cstruct)


class Integer(_ScalarType):
    expected = "an integer"

    def __init__(self, minimum: int = -MAX_INT, maximum: int = MAX_INT, nullable: bool = False) -> None:
        self.minimum, self.maximum, self.nullable = minimum, maximum, nullable

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> int | None:
        value = cstruct.value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value == int(value) and not cstruct.quoted:
                value = int(value)
            else:
                raise _fail(node, cstruct, f"{node.name}: expected an integer, found {describe(cstruct)}")
        if not self.minimum <= value <= self.maximum:
            raise _fail(node, cstruct, f"{node.name}: {value} is outside {self.minimum}..{self.maximum}")
        return value


class Number(_ScalarType):
    expected = "a number"

    def __init__(self, minimum: float = -MAX_INT, maximum: float = MAX_INT) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> float | int:
        value = cstruct.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _fail(node, cstruct, f"{node.name}: expected a number, found {describe(cstruct)}")
        if not self.minimum <= value <= self.maximum:
            raise _fail(node, cstruct, f"{node.name}: {cstruct.text} is outside {self.minimum:g}..{self.maximum:g}")
        return value


class Boolean(_ScalarType):
    expected = "true or false"

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> bool:
        if not isinstance(cstruct.value, bool):
            raise _fail(node, cstruct, f"{node.name}: expected true or false, found {describe(cstruct)}")
        return cstruct.value


class Version(_ScalarType):
    """``format: cati/1``; YAML may read ``cati/1`` only as text, but be tolerant of spacing."""

    expected = "'cati/1'"

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> str:
        return cstruct.text.strip()


# --------------------------------------------------------------------------- containers


class Raw(colander.SchemaType):
    """Passes a list or mapping through unvalidated (validated later, node by node)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> object:
        if not isinstance(cstruct, self.kind):
            expected = "a list" if self.kind is YSeq else "a mapping"
            raise _fail(node, cstruct, f"{node.name}: expected {expected}, found {describe(cstruct)}")
        return cstruct


class TextType(colander.SchemaType):
    """A text (§9): a plain string, or a map of language → string. Scalars count as their text."""

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> RawText:
        if isinstance(cstruct, Scalar):
            if cstruct.value is None:
                raise _fail(node, cstruct, f"{node.name}: expected a text, found nothing (null)")
            return RawText(cstruct.pos, plain=Src(cstruct.text, cstruct))
        if not isinstance(cstruct, YMap):
            raise _fail(node, cstruct, f"{node.name}: expected a text or a map of languages, found {describe(cstruct)}")
        text = RawText(cstruct.pos)
        problems = []
        for lang, value in cstruct.items.items():
            if not isinstance(value, Scalar) or value.value is None:
                problems.append((value.pos, f"{node.name}.{lang}: expected a text, found {describe(value)}"))
                continue
            text.langs[lang] = Src(value.text, value)
            text.lang_pos[lang] = cstruct.key_pos[lang]
        if problems:
            raise StructureError(node, problems)
        return text


class Record(colander.SchemaType):
    """A mapping with a fixed set of keys (the node's children); collects every problem.

    ``text_shorthand``: keys that are language codes form a text under ``text`` (options,
    rows and variants are written ``{code: 1, de: ..., en: ...}``).
    ``known_elsewhere``: keys valid on other node kinds, for a clearer message than "unknown".
    """

    def __init__(self, what: str, text_shorthand: bool = False, known_elsewhere: Iterable[str] = ()) -> None:
        self.what = what
        self.text_shorthand = text_shorthand
        self.known_elsewhere = frozenset(known_elsewhere)

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> Fields:
        if not isinstance(cstruct, YMap):
            raise _fail(node, cstruct, f"{self.what}: expected a mapping, found {describe(cstruct)}")
        result = Fields(cstruct)
        problems: list[tuple[Pos, str]] = []
        children = {child.name: child for child in node.children}
        shorthand = self._shorthand(cstruct, children, problems) if self.text_shorthand else None
        for name, child in children.items():
            value = cstruct.items.get(name)
            if value is None or (isinstance(value, Scalar) and value.value is None and _optional(child)):
                if name == "text" and shorthand is not None:
                    result[name] = shorthand
                elif _optional(child):
                    if child.missing is not colander.drop:
                        result[name] = child.missing
                else:
                    problems.append((cstruct.pos, f"{self.what}: missing key {name!r}"))
                continue
            try:
                result[name] = child.deserialize(value)
            except colander.Invalid as exc:
                problems.extend(_problems_of(exc, value, name))
        for key in cstruct.items:
            if key in children or (shorthand is not None and key in shorthand.langs):
                continue
            problems.append((cstruct.key_pos[key], self._unknown(key, children)))
        if problems:
            raise StructureError(node, problems)
        return result

    def _shorthand(self, cstruct: YMap, children: dict, problems: list) -> RawText | None:
        langs = {k: v for k, v in cstruct.items.items() if k not in children and LANG_RE.match(k)}
        if not langs:
            return None
        if "text" in cstruct.items:
            key = next(iter(langs))
            problems.append((cstruct.key_pos[key], f"{self.what}: give either 'text' or language keys, not both"))
        text = RawText(cstruct.pos)
        for lang, value in langs.items():
            if not isinstance(value, Scalar) or value.value is None:
                problems.append((value.pos, f"{self.what}: text {lang!r}: expected a text, found {describe(value)}"))
                continue
            text.langs[lang] = Src(value.text, value)
            text.lang_pos[lang] = cstruct.key_pos[lang]
        return text

    def _unknown(self, key: str, children: dict) -> str:
        if key in self.known_elsewhere:
            return f"{self.what}: key {key!r} does not apply here"
        return f"{self.what}: unknown key {key!r}{did_you_mean(key, children)}"


def _optional(child: colander.SchemaNode) -> bool:
    return child.missing is not colander.required


class ListOf(colander.SchemaType):
    """A list whose every item follows the node's single child; collects every problem."""

    def __init__(self, allow_empty: bool = True) -> None:
        self.allow_empty = allow_empty

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> PList:
        if not isinstance(cstruct, YSeq):
            raise _fail(node, cstruct, f"{node.name}: expected a list, found {describe(cstruct)}")
        if not cstruct.items and not self.allow_empty:
            raise _fail(node, cstruct, f"{node.name}: the list is empty")
        result = PList(cstruct)
        problems: list[tuple[Pos, str]] = []
        item_schema = node.children[0]
        for item in cstruct.items:
            try:
                result.append(item_schema.deserialize(item))
            except colander.Invalid as exc:
                problems.extend(_problems_of(exc, item, node.name))
        if problems:
            raise StructureError(node, problems)
        return result


class MapOf(colander.SchemaType):
    """A mapping with free keys (list names, dispositions); values follow the single child."""

    def __init__(self, key_pattern: re.Pattern[str], key_hint: str) -> None:
        self.key_pattern = key_pattern
        self.key_hint = key_hint

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> Fields:
        if not isinstance(cstruct, YMap):
            raise _fail(node, cstruct, f"{node.name}: expected a mapping, found {describe(cstruct)}")
        result = Fields(cstruct)
        problems: list[tuple[Pos, str]] = []
        value_schema = node.children[0]
        for key, value in cstruct.items.items():
            if not self.key_pattern.match(key):
                problems.append((cstruct.key_pos[key], f"{node.name}: {key!r} {self.key_hint}"))
                continue
            try:
                result[key] = value_schema.deserialize(value)
            except colander.Invalid as exc:
                problems.extend(_problems_of(exc, value, f"{node.name}.{key}"))
        if problems:
            raise StructureError(node, problems)
        return result


class OneOf(colander.SchemaType):
    """A scalar read by ``scalar`` or a mapping read by ``record`` (e.g. ``COMPLETE: 1``)."""

    def __init__(self, scalar: colander.SchemaNode, record: colander.SchemaNode) -> None:
        self.scalar, self.record = scalar, record

    def deserialize(self, node: colander.SchemaNode, cstruct: object) -> object:
        return (self.record if isinstance(cstruct, YMap) else self.scalar).deserialize(cstruct)


# --------------------------------------------------------------------------- builders


def _key(typ: colander.SchemaType, name: str, *, optional: bool = True, default: object = colander.drop):
    return colander.SchemaNode(typ, name=name, missing=default if optional else colander.required)


def _req(typ: colander.SchemaType, name: str) -> colander.SchemaNode:
    return _key(typ, name, optional=False)


def _record(
    what: str, *children: colander.SchemaNode, name: str = "", optional: bool = False, **kw: object
) -> colander.SchemaNode:
    missing = colander.drop if optional else colander.required
    return colander.SchemaNode(Record(what, **kw), *children, name=name or what, missing=missing)


def _list(item: colander.SchemaNode, name: str, *, optional: bool = True, allow_empty: bool = True):
    return colander.SchemaNode(
        ListOf(allow_empty), item, name=name, missing=colander.drop if optional else colander.required
    )


IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
IDENT_HINT = "must start with a letter and use only ASCII letters, digits and '_'"
RANDOMIZE = ("shuffle", "rotate", "reverse")


def _expr(name: str, *, optional: bool = True) -> colander.SchemaNode:
    return _key(SourceText(), name, optional=optional)


def _ident(name: str, *, optional: bool = False) -> colander.SchemaNode:
    return _key(Word(IDENT, hint=IDENT_HINT), name, optional=optional)


def _other() -> colander.SchemaNode:
    return _record("other", _ident("id"), _key(Integer(1, 32767), "max_length"), name="other", optional=True)


def option_schema(what: str = "option") -> colander.SchemaNode:
    return _record(
        what,
        _req(Integer(-(10**9), 10**9), "code"),
        _key(TextType(), "text"),
        _expr("show_if"),
        _key(Boolean(), "fixed"),
        _key(Boolean(), "exclusive"),
        _other(),
        text_shorthand=True,
    )


def row_schema() -> colander.SchemaNode:
    return _record(
        "row",
        _req(Integer(-(10**9), 10**9), "code"),
        _key(TextType(), "text"),
        _expr("show_if"),
        _key(Boolean(), "fixed"),
        text_shorthand=True,
    )


def _check() -> colander.SchemaNode:
    return _record(
        "check",
        _expr("assert", optional=False),
        _key(Word(choices=("hard", "soft")), "severity"),
        _req(TextType(), "message"),
    )


def _variant() -> colander.SchemaNode:
    return _record("variant", _expr("if", optional=False), _key(TextType(), "text"), text_shorthand=True)


def _goto() -> colander.SchemaNode:
    return _record("goto", _expr("if", optional=False), _ident("to"))


SPECIAL_WORD = Word(choices=("DK", "REF", "NA"))

# Keys of a question by type (beyond the common ones).
COMMON_KEYS = (
    "id",
    "type",
    "text",
    "instruction",
    "label",
    "show_if",
    "special",
    "special_codes",
    "checks",
    "required",
    "default",
    "variants",
    "goto",
)
_CHOICE = ("options", "list", "read_out", "randomize")
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "single": _CHOICE,
    "multi": (*_CHOICE, "min_choices", "max_choices"),
    "numeric": ("min", "max", "decimals", "unit"),
    "text": ("max_length", "lines", "pii"),
    "date": ("min", "max"),
    "grid": ("options", "list", "rows", "read_out", "randomize_rows"),
    "nps": ("low", "high"),
    "computed": ("expr", "when", "options", "list", "decimals", "max_length"),
}
QUESTION_TYPES = tuple(TYPE_KEYS)
ALL_QUESTION_KEYS = frozenset(COMMON_KEYS).union(*TYPE_KEYS.values())


def _special_codes() -> colander.SchemaNode:
    node = colander.SchemaNode(
        MapOf(re.compile(r"(DK|REF|NA)\Z"), "is not a special (use DK, REF or NA)"),
        colander.SchemaNode(Integer(-(10**9), 10**9), name="code"),
        name="special_codes",
        missing=colander.drop,
    )
    return node


def _type_key(name: str) -> colander.SchemaNode:
    """Schema node of a type-specific question key."""
    makers: dict[str, Callable[[], colander.SchemaNode]] = {
        "options": lambda: _list(option_schema(), "options", allow_empty=False),
        "list": lambda: _ident("list", optional=True),
        "read_out": lambda: _key(Boolean(), "read_out"),
        "randomize": lambda: _key(Word(choices=RANDOMIZE), "randomize"),
        "min_choices": lambda: _key(Integer(0, 10_000), "min_choices"),
        "max_choices": lambda: _key(Integer(1, 10_000), "max_choices"),
        "min": lambda: _key(_NumberOrText(), "min"),
        "max": lambda: _key(_NumberOrText(), "max"),
        "decimals": lambda: _key(Integer(0, 6), "decimals"),
        "unit": lambda: _key(TextType(), "unit"),
        "max_length": lambda: _key(Integer(1, 32767), "max_length"),
        "lines": lambda: _key(Integer(1, 50), "lines"),
        "pii": lambda: _key(Boolean(), "pii"),
        "rows": lambda: _list(row_schema(), "rows", optional=False, allow_empty=False),
        "randomize_rows": lambda: _key(Word(choices=RANDOMIZE), "randomize_rows"),
        "low": lambda: _key(TextType(), "low"),
        "high": lambda: _key(TextType(), "high"),
        "expr": lambda: _expr("expr", optional=False),
        "when": lambda: _expr("when"),
    }
    return makers[name]()


class _NumberOrText(_ScalarType):
    """``min``/``max``: a number (numeric) or an ISO date / expression (date); the compiler decides."""

    expected = "a number, an ISO date or an expression"

    def convert(self, node: colander.SchemaNode, cstruct: Scalar) -> object:
        value = cstruct.value
        if isinstance(value, bool):
            raise _fail(node, cstruct, f"{node.name}: expected {self.expected}, found {describe(cstruct)}")
        if isinstance(value, int | float):
            if not math.isfinite(value) or abs(value) > MAX_INT:
                raise _fail(node, cstruct, f"{node.name}: {cstruct.text} is too large (limit ±{MAX_INT:.0e})")
            return value
        return Src(cstruct.text, cstruct)


def _common_keys() -> list[colander.SchemaNode]:
    return [
        _ident("id"),
        _req(Word(choices=QUESTION_TYPES), "type"),
        _key(TextType(), "text"),
        _key(TextType(), "instruction"),
        _key(TextType(), "label"),
        _expr("show_if"),
        _list(colander.SchemaNode(SPECIAL_WORD, name="special"), "special"),
        _special_codes(),
        _list(_check(), "checks"),
        _key(Boolean(), "required"),
        _expr("default"),
        _list(_variant(), "variants"),
        _list(_goto(), "goto"),
    ]


_QUESTION_SCHEMAS: dict[str, colander.SchemaNode] = {}


def question_schema(qtype: str) -> colander.SchemaNode:
    """The schema of a question of ``qtype`` (cached: schemas are immutable)."""
    schema = _QUESTION_SCHEMAS.get(qtype)
    if schema is None:
        keys = _common_keys()
        if qtype == "computed":
            keys = [k for k in keys if k.name in ("id", "type", "label", "show_if")]
        keys += [_type_key(k) for k in TYPE_KEYS[qtype]]
        schema = _record(f"{qtype} question", *keys, known_elsewhere=ALL_QUESTION_KEYS | NODE_KEYS)
        _QUESTION_SCHEMAS[qtype] = schema
    return schema


NODE_KINDS = ("info", "block", "loop", "quota", "end")
NODE_KEYS = frozenset({"info", "block", "loop", "quota", "end", "body", "over", "where", "count", "if"})


def _node_schemas() -> dict[str, colander.SchemaNode]:
    known = ALL_QUESTION_KEYS | NODE_KEYS
    body = colander.SchemaNode(Raw(YSeq), name="body")
    return {
        "info": _record(
            "info node",
            _ident("info"),
            _req(TextType(), "text"),
            _key(TextType(), "instruction"),
            _expr("show_if"),
            _list(_variant(), "variants"),
            _list(_goto(), "goto"),
            known_elsewhere=known,
        ),
        "block": _record(
            "block",
            _ident("block"),
            body,
            _expr("show_if"),
            _key(Word(choices=("shuffle", "rotate")), "randomize"),
            known_elsewhere=known,
        ),
        "loop": _record(
            "loop",
            _ident("loop"),
            colander.SchemaNode(Raw(YSeq), name="body"),
            _ident("over", optional=True),
            _expr("where"),
            _expr("count"),
            _key(Integer(1, 1000), "max"),
            _expr("show_if"),
            known_elsewhere=known,
        ),
        "quota": _record("quota node", _ident("quota"), _expr("show_if"), known_elsewhere=known),
        "end": _record(
            "end node",
            _ident("end"),
            _expr("if"),
            _key(TextType(), "text"),
            _expr("show_if"),
            known_elsewhere=known,
        ),
    }


NODE_SCHEMAS = _node_schemas()


def node_kind(node: YMap) -> str | None:
    """Which kind of flow node a mapping is: a question type's ``"question"`` or a node kind."""
    kinds = [k for k in NODE_KINDS if k in node.items]
    if len(kinds) > 1 or (kinds and "id" in node.items):
        return None
    if kinds:
        return kinds[0]
    return "question" if "id" in node.items or "type" in node.items else None


# --------------------------------------------------------------------------- sections

SPECIAL_CODE_ENTRY = _record(
    "special code", _req(Integer(-(10**9), 10**9), "code"), _key(TextType(), "text"), text_shorthand=True
)
DISPOSITION = _record(
    "disposition",
    _req(Integer(0, 10**6), "code"),
    _req(Word(), "aapor"),
)
DISPOSITIONS = colander.SchemaNode(
    MapOf(IDENT, IDENT_HINT),
    colander.SchemaNode(OneOf(colander.SchemaNode(Integer(0, 10**6), name="code"), DISPOSITION), name="disposition"),
    name="dispositions",
)
SPECIAL_CODES = colander.SchemaNode(
    MapOf(re.compile(r"(DK|REF|NA)\Z"), "is not a special (use DK, REF or NA)"),
    SPECIAL_CODE_ENTRY,
    name="special_codes",
)
LISTS = colander.SchemaNode(
    MapOf(IDENT, IDENT_HINT),
    colander.SchemaNode(ListOf(allow_empty=False), option_schema(), name="list"),
    name="lists",
)
SAMPLE_FIELD = _record(
    "sample field",
    _ident("name"),
    _req(Word(choices=("single", "text", "numeric", "date")), "type"),
    _list(option_schema(), "options", allow_empty=False),
    _ident("list", optional=True),
    _key(Boolean(), "pii"),
    _key(TextType(), "label"),
)
QUOTA_CELL = _record(
    "quota cell", _ident("id"), _expr("if", optional=False), _req(Integer(0, 10**9, nullable=True), "target")
)
QUOTA = _record(
    "quota",
    _ident("id"),
    _ident("on_full", optional=True),
    _key(Word(choices=("hard", "soft", "counter")), "mode"),
    _key(Number(0, 10), "overshoot"),
    _list(QUOTA_CELL, "cells", optional=False, allow_empty=False),
)
TOP = _record(
    "questionnaire",
    _req(Version(), "format"),
    _req(Word(), "id"),
    _req(Integer(0, 10**9), "version"),
    _req(TextType(), "title"),
    _list(
        colander.SchemaNode(Word(LANG_RE, hint="is not a language code like 'de' or 'en'"), name="languages"),
        "languages",
        optional=False,
        allow_empty=False,
    ),
    _key(Raw(YMap), "special_codes"),
    _key(Raw(YMap), "dispositions", optional=False),
    _key(Raw(YMap), "lists"),
    _key(Raw(YSeq), "sample"),
    _key(Raw(YSeq), "quotas"),
    _key(Raw(YSeq), "flow", optional=False),
)


def validate(schema: colander.SchemaNode, node: Node, problems: list[tuple[Pos, str]]) -> object | None:
    """Deserialize ``node`` with ``schema``; on failure add its problems and return ``None``."""
    try:
        return schema.deserialize(node)
    except colander.Invalid as exc:
        problems.extend(_problems_of(exc, node, None))
        return None
