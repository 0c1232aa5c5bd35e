"""Safe YAML loading that keeps the position of every node.

Why not ``yaml.safe_load``: it forgets line numbers, silently keeps the last of two equal keys
(a researcher loses a question that way) and expands aliases without limit ("billion laughs").
So this module builds its own small tree from the parser's *events* (libyaml when available,
no recursion, so deep nesting cannot exhaust the stack):

* :class:`YMap`, :class:`YSeq` and :class:`Scalar` carry their 1-based :class:`~.model.Pos`;
  a map also keeps the position of every key.
* A scalar keeps its resolved value (``int``, ``float``, ``bool``, ``None`` or ``str``) *and* its
  source text, because YAML 1.1 turns an unquoted ``yes`` into ``True``: wherever a text is
  expected the checker uses the source text, so ``en: yes`` means the word "yes".
* Only decimal integers count as integers: ``010`` (octal in YAML 1.1) and ``1:30``
  (sexagesimal) stay text, so they are reported instead of silently becoming 8 and 90.
  Timestamps stay text too (the questionnaire checker parses ISO dates itself).
* Duplicate keys, unknown tags, recursive aliases, nesting deeper than :data:`MAX_DEPTH`, files
  over :data:`MAX_BYTES` and alias expansion over :data:`MAX_ALIAS_NODES` nodes are errors.

:func:`load_data` reads the small data files of ``cati simulate`` (answers, sample) by the same
rules and hands back plain Python values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import yaml

from .errors import Problem, QuestionnaireError
from .model import Pos

MAX_BYTES = 5_000_000
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000
MAX_NODES = 2_000_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_TAG = "tag:yaml.org,2002:"
_KNOWN_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}
_DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)\Z")
_DECIMAL_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][-+]?[0-9]+)?\Z")
_MAX_NUMBER_TEXT = 40


@dataclass(slots=True, eq=False)
class Scalar:
    """A scalar: its resolved ``value``, its source ``text`` and where it starts.

    ``inner`` is the position of the first character of the content when character offsets
    inside the text map one-to-one onto columns (single line, no escapes); expression errors
    then point at the exact column.
    """

    value: object
    text: str
    pos: Pos
    quoted: bool = False
    inner: Pos | None = None
    size: int = 1

    def at(self, offset: int | None) -> Pos:
        """Position of character ``offset`` of the text (the start if it cannot be mapped)."""
        if offset is None or self.inner is None or not 0 <= offset <= len(self.text):
            return self.pos
        return Pos(self.inner.line, self.inner.col + offset)


@dataclass(slots=True, eq=False)
class YMap:
    """A mapping with string keys (the keys' source text) in file order."""

    pos: Pos
    items: dict[str, Node] = field(default_factory=dict)
    key_pos: dict[str, Pos] = field(default_factory=dict)
    size: int = 1


@dataclass(slots=True, eq=False)
class YSeq:
    pos: Pos
    items: list[Node] = field(default_factory=list)
    size: int = 1


Node = YMap | YSeq | Scalar


def describe(node: object) -> str:
    """A short human description of a node's kind, for "expected X, found Y" messages."""
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    if isinstance(node, Scalar):
        value = node.value
        if value is None:
            return "nothing (null)"
        if isinstance(value, bool):
            return f"the boolean {node.text!r}"
        if isinstance(value, int | float):
            return f"the number {node.text}"
        return f"the text {_short(node.text)!r}"
    return "nothing"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Control characters a text may not hold: all but tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class _LoadError(Exception):
    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _pos(mark: yaml.Mark | None) -> Pos:
    if mark is None:
        return Pos(1, 1)
    return Pos(mark.line + 1, mark.column + 1)


def load_yaml(text: str, source: str) -> Node:
    """Parse one YAML document into a positioned tree; raise :class:`QuestionnaireError`."""
    node = _load(text, source, empty_ok=False)
    assert node is not None
    return node


def load_data(text: str, source: str, *, booleans: bool = False, mapping: bool = False) -> object:
    """A small data file (``cati simulate`` answers and sample) as plain Python values.

    Read by the same rules as questionnaires (only plain decimal numbers are numbers, so
    ``plz: 01067`` stays the text ``"01067"``; dates stay ISO texts; duplicate keys, tags and
    alias bombs are errors, reported as :class:`QuestionnaireError` with ``FILE:LINE:COL``).
    Unless ``booleans`` is set, an unquoted ``yes``/``no``/``on``/``off``/``true``/``false``
    stays the word as written (``T1: no`` is the answer "no"). Mapping keys are their source
    text. An empty file (or one with only comments) gives None. With ``mapping`` anything but a
    mapping at the top is an error.
    """
    node = _load(text, source, empty_ok=True)
    if node is None:
        return None
    if mapping and not isinstance(node, YMap):
        message = f"expected a mapping of names to values, found {describe(node)}"
        raise QuestionnaireError([Problem(source, node.pos.line, node.pos.col, message)])
    return to_python(node, booleans=booleans)


def to_python(node: Node, *, booleans: bool = False) -> object:
    """A positioned tree as plain dicts, lists and scalars (see :func:`load_data`); iterative,
    so deep nesting within :data:`MAX_DEPTH` is fine, and aliases are copied, not shared."""

    def scalar(item: Scalar) -> object:
        if isinstance(item.value, bool) and not booleans:
            return item.text
        return item.value

    if isinstance(node, Scalar):
        return scalar(node)
    root: dict[str, object] | list[object] = {} if isinstance(node, YMap) else []
    stack: list[tuple[YMap | YSeq, dict[str, object] | list[object]]] = [(node, root)]
    while stack:
        source, target = stack.pop()
        children = source.items.values() if isinstance(source, YMap) else source.items
        values: list[object] = []
        for child in children:
            if isinstance(child, Scalar):
                values.append(scalar(child))
            else:
                inner: dict[str, object] | list[object] = {} if isinstance(child, YMap) else []
                stack.append((child, inner))
                values.append(inner)
        if isinstance(target, dict):
            assert isinstance(source, YMap)
            target.update(zip(source.items, values, strict=True))
        else:
            target.extend(values)
    return root


def _load(text: str, source: str, *, empty_ok: bool) -> Node | None:
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise QuestionnaireError([Problem(source, 1, 1, f"file is larger than {MAX_BYTES:,} bytes")])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: only possible in text not read from a file
        pos = _offset_pos(text, exc.start)
        raise QuestionnaireError([Problem(source, pos.line, pos.col, "invalid character (lone surrogate)")]) from None
    try:
        return _Builder().build(text, empty_ok=empty_ok)
    except _LoadError as exc:
        raise QuestionnaireError([Problem(source, exc.pos.line, exc.pos.col, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        pos = _pos(exc.problem_mark or exc.context_mark)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise QuestionnaireError([Problem(source, pos.line, pos.col, f"YAML syntax: {message}")]) from None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position too
        pos = Pos(1, 1)
        if isinstance(exc, yaml.reader.ReaderError):
            pos = _offset_pos(text, exc.position)
        raise QuestionnaireError([Problem(source, pos.line, pos.col, f"YAML: {_first_line(exc)}")]) from None


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _offset_pos(text: str, offset: int) -> Pos:
    line = text.count("\n", 0, offset) + 1
    return Pos(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


class _Frame:
    __slots__ = ("anchor", "key", "merges", "node")

    def __init__(self, node: YMap | YSeq, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.key: Scalar | None = None  # a mapping's key waiting for its value
        self.merges: list[Node] = []


class _Builder:
    """Turns parser events into a tree, enforcing the limits named in the module docstring."""

    def __init__(self) -> None:
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.alias_nodes = 0
        self.total_nodes = 0
        self.root: Node | None = None
        self.documents = 0

    def build(self, text: str, *, empty_ok: bool = False) -> Node | None:
        for event in yaml.parse(text, Loader=_Parser):
            self._event(event)
        if self.root is None:
            if empty_ok:
                return None
            raise _LoadError(Pos(1, 1), "the file is empty: expected a questionnaire (a mapping)")
        return self.root

    def _event(self, event: yaml.Event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            if event.tag is not None:
                self._check_tag(event)
            scalar = self._scalar(event)
            self._add(scalar, event.anchor, scalar.pos)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self._open(event)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            self._close()
        elif kind is yaml.AliasEvent:
            self._alias(event)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise _LoadError(_pos(event.start_mark), "only one YAML document per file (found '---' again)")

    def _check_tag(self, event: yaml.NodeEvent) -> None:
        tag = getattr(event, "tag", None)
        if tag in (None, "!") or tag in _KNOWN_TAGS:
            return
        raise _LoadError(_pos(event.start_mark), f"unsupported YAML tag {tag!r} (tags are not allowed here)")

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        self._check_tag(event)
        if len(self.stack) >= MAX_DEPTH:
            raise _LoadError(_pos(event.start_mark), f"nesting deeper than {MAX_DEPTH} levels")
        pos = _pos(event.start_mark)
        node: YMap | YSeq = YMap(pos) if isinstance(event, yaml.MappingStartEvent) else YSeq(pos)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(node, event.anchor))

    def _close(self) -> None:
        frame = self.stack.pop()
        node = frame.node
        if isinstance(node, YMap) and frame.merges:
            _merge(node, frame.merges)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self._add(node, frame.anchor, node.pos, counted=True)

    def _alias(self, event: yaml.AliasEvent) -> None:
        pos = _pos(event.start_mark)
        name = event.anchor
        if name in self.open_anchors:
            raise _LoadError(pos, f"recursive alias *{name} (it refers to a node that contains it)")
        target = self.anchors.get(name)
        if target is None:
            raise _LoadError(pos, f"unknown alias *{name} (no anchor &{name} before it)")
        self.alias_nodes += target.size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise _LoadError(pos, f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (billion-laughs guard)")
        self._add(target, None, pos, alias=True)

    def _scalar(self, event: yaml.ScalarEvent) -> Scalar:
        pos = _pos(event.start_mark)
        text = event.value
        bad = _CONTROL.search(text)
        if bad:
            # YAML refuses them written out, but "\0" or "\x07" in double quotes makes them: a NUL
            # ends a label in SPSS files (C strings), the others garble screens and exports
            raise _LoadError(pos, f"control character U+{ord(bad.group()):04X} in a text (written as an escape); "
                                  "remove it")
        quoted = event.style in ("'", '"')
        tag = event.tag if event.tag not in (None, "!") else None
        if tag is None:
            plain = event.implicit[0] and not event.style
            tag = _RESOLVER.resolve(yaml.ScalarNode, text, (plain, False)) if plain else _TAG + "str"
        inner = None
        end = event.end_mark
        if end is not None and end.line == pos.line - 1:
            if not event.style:
                inner = pos
            elif quoted and end.column - (pos.col - 1) - 2 == len(text):
                inner = Pos(pos.line, pos.col + 1)
        return Scalar(_construct(tag, text), text, pos, quoted=quoted, inner=inner)

    def _add(self, node: Node, anchor: str | None, pos: Pos, *, counted: bool = False, alias: bool = False) -> None:
        if not counted:
            self.total_nodes += node.size
        elif not alias:
            self.total_nodes += 1
        if self.total_nodes > MAX_NODES:
            raise _LoadError(pos, f"more than {MAX_NODES:,} YAML nodes")
        if anchor is not None:
            self.anchors[anchor] = node
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame.node
        parent.size += node.size
        if isinstance(parent, YSeq):
            parent.items.append(node)
            return
        if frame.key is None:
            if not isinstance(node, Scalar):
                raise _LoadError(pos, "a mapping key must be a plain word, not a list or mapping")
            if alias:
                raise _LoadError(pos, "an alias cannot be used as a mapping key")
            frame.key = node
            return
        key, frame.key = frame.key, None
        if key.text == "<<" and not key.quoted:
            if not isinstance(node, YMap | YSeq):
                raise _LoadError(pos, "a merge key '<<' needs a mapping or a list of mappings")
            frame.merges.append(node)
            return
        if key.text in parent.items:
            first = parent.key_pos[key.text]
            raise _LoadError(key.pos, f"duplicate key {key.text!r} (first given at line {first.line})")
        parent.items[key.text] = node
        parent.key_pos[key.text] = key.pos


def _merge(node: YMap, merges: list[Node]) -> None:
    """YAML merge keys: explicit keys win, earlier merged mappings win over later ones."""
    sources: list[Node] = []
    for merged in merges:
        sources.extend(merged.items if isinstance(merged, YSeq) else [merged])
    for source in sources:
        if not isinstance(source, YMap):
            raise _LoadError(source.pos, "a merge key '<<' needs a mapping or a list of mappings")
        for key, value in source.items.items():
            if key not in node.items:
                node.items[key] = value
                node.key_pos[key] = source.key_pos[key]


def _construct(tag: str, text: str) -> object:
    """The Python value of a scalar; unusual number spellings stay text (see module docstring)."""
    kind = tag[len(_TAG) :] if tag.startswith(_TAG) else "str"
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() in ("yes", "true", "on", "y")
    if kind == "int" and len(text) <= _MAX_NUMBER_TEXT and _DECIMAL_INT.match(text):
        return int(text.replace("_", ""))
    if kind == "float" and len(text) <= _MAX_NUMBER_TEXT:
        lowered = text.lower().lstrip("+")
        if lowered in (".inf", "-.inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        if _DECIMAL_FLOAT.match(text) and any(c.isdigit() for c in text):
            try:
                return float(text.replace("_", ""))
            except ValueError:
                return text
    return text
