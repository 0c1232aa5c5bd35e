"""Check a ``cati/1`` questionnaire and compile it into the immutable :class:`model.Questionnaire`.

Three stages, each reporting *every* problem with ``FILE:LINE:COL``:

1. :mod:`.yamlload` parses safely and keeps positions;
2. :mod:`.schema` checks the structure of each section and flow node (a broken node is left out
   of the later stage, so one typo does not hide the rest of the file's problems);
3. this module checks the meaning in one pass over the flow, in order, so that "earlier" is
   simply "already seen": references, fills, goto targets, quotas, special codes, and finally
   the generated export names and labels (via :func:`.codebook.build_codebook`, so that the
   checked names are exactly the exported ones).

The pass is linear in the size of the file (goto conditions are attached to whole skipped
subtrees, never node by node), so a 2,000-question file compiles well under a second.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import expressions, fills, model
from .errors import Problem, QuestionnaireError
from .languages import for_language
from .model import Pos
from .names import ID_RE, RESERVED_NAMES, NameRegistry, did_you_mean, name_problem
from .schema import (
    DISPOSITIONS,
    LISTS,
    NODE_SCHEMAS,
    QUESTION_TYPES,
    QUOTA,
    SAMPLE_FIELD,
    SPECIAL_CODES,
    TOP,
    Fields,
    PList,
    RawText,
    Src,
    node_kind,
    question_schema,
    validate,
)
from .yamlload import MAX_BYTES, Node, Scalar, YMap, YSeq, describe, load_yaml

FORMAT_RE = re.compile(r"cati/(\d+)(?:\.(\d+))?\Z")
AAPOR_RE = re.compile(r"[1-4]\.\d{1,3}\Z")
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
MAX_LABEL_BYTES = 256
MAX_VALUE_LABEL_BYTES = 120
MAX_EXACT_CODE = 2**53  # the largest whole numbers a double (SPSS's only number type) holds exactly
DEFAULT_TEXT_LENGTH = 255
DEFAULT_OTHER_LENGTH = 255
INTERNAL_ERROR = "internal error of the checker"
COMPUTED_DECIMALS = 2  # a computed number without options is exported as F12.2 unless `decimals` says otherwise

#: Built-in labels for specials and NPS ends, used when the file does not give its own.
BUILTIN_SPECIAL_LABELS = {
    "DK": {"de": "weiß nicht", "en": "don't know"},
    "REF": {"de": "keine Angabe", "en": "refused"},
    "NA": {"de": "trifft nicht zu", "en": "not applicable"},
}
BUILTIN_NPS_LABELS = {
    "low": {"de": "äußerst unwahrscheinlich", "en": "not at all likely"},
    "high": {"de": "äußerst wahrscheinlich", "en": "extremely likely"},
}
LABELLED_TYPES = ("single", "multi")


# --------------------------------------------------------------------------- public API


def load_questionnaire(text: str, source_name: str) -> model.Questionnaire:
    """Check and compile ``text``; raise :class:`QuestionnaireError` listing every problem."""
    questionnaire, problems = _compile(text, source_name)
    if problems or questionnaire is None:
        raise QuestionnaireError(problems or [Problem(source_name, 1, 1, "invalid questionnaire")])
    return questionnaire


def check_text(text: str, source_name: str) -> list[Problem]:
    """Every problem of ``text`` (empty when it compiles)."""
    return _compile(text, source_name)[1]


def check_file(path: str | Path) -> list[Problem]:
    """Every problem of the file at ``path``; an unreadable file is one problem without position."""
    text, problem = read_source(path)
    return [problem] if problem else check_text(text, str(path))


def load_file(path: str | Path) -> model.Questionnaire:
    """Read, check and compile a file; raise :class:`QuestionnaireError`."""
    text, problem = read_source(path)
    if problem:
        raise QuestionnaireError([problem])
    return load_questionnaire(text, str(path))


def read_source(path: str | Path) -> tuple[str, Problem | None]:
    """The file's text, or a problem saying why it cannot be read or is not UTF-8."""
    name = str(path)
    try:
        with Path(path).open("rb") as file:
            # never more than the limit (+ a BOM): /dev/zero or a huge file must not be read whole
            data = file.read(MAX_BYTES + 4)
    except OSError as exc:
        return "", Problem(name, 0, 0, f"cannot read: {exc.strerror or exc}")
    if len(data) > MAX_BYTES + (3 if data.startswith(b"\xef\xbb\xbf") else 0):
        return "", Problem(name, 1, 1, f"file is larger than {MAX_BYTES:,} bytes")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return "", Problem(name, line, col, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")


def _compile(text: str, source_name: str) -> tuple[model.Questionnaire | None, list[Problem]]:
    try:
        root = load_yaml(text, source_name)
    except QuestionnaireError as exc:
        return None, exc.problems
    compiler = _Compiler(source_name)
    try:
        questionnaire = compiler.run(root)
    except Exception as exc:  # last line of defence, never the only one (see the fuzz tests)
        # A bug in the checker must not become a traceback for a researcher; the message says
        # plainly that it is our fault, and the property tests fail on it.
        message = f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc}); please report this file"
        return None, [*compiler.problems, Problem(source_name, 1, 1, message)]
    problems = sorted(set(compiler.problems), key=lambda p: (p.line, p.col, p.message))
    return questionnaire, problems


# --------------------------------------------------------------------------- scope


@dataclass(slots=True)
class Var:
    """Something expressions and fills may refer to."""

    name: str
    kind: str  # question, row, other, sample, broken
    qtype: str | None = None
    labelled: bool = False
    options: tuple[model.Option, ...] = ()
    rblocks: tuple[str, ...] = ()  # randomised blocks around its definition
    vtype: str = "unknown"  # value type for infer_type: numeric, string, date
    suffix: str = ""  # loop suffixes already applied (outer loops insert theirs before it)
    base: str = ""  # the name without loop suffixes

    def __post_init__(self) -> None:
        if not self.base:
            self.base = self.name


@dataclass(slots=True)
class Ctx:
    """Where in the flow the compiler is: enclosing loops and randomised blocks."""

    loops: tuple[str, ...] = ()
    rblocks: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()  # enclosing show_if sources, for the codebook

    def inside(self, **changes: object) -> Ctx:
        return replace(self, **changes)


@dataclass(slots=True)
class _LoopInfo:
    id: str
    names: list[str] = field(default_factory=list)  # names defined in its body


class _DocIndex:
    """Document order of flow nodes, for forward-only ``goto`` (built before the main pass)."""

    def __init__(self, flow: Node | None) -> None:
        self.index: dict[int, int] = {}
        self.end: list[int] = []
        self.ids: dict[str, int] = {}
        self.loops: list[tuple[int, ...]] = []
        self.rblock: list[bool] = []
        self.all_ids: dict[str, Pos] = {}
        if isinstance(flow, YSeq):
            self._walk(flow, (), False)

    def _walk(self, seq: YSeq, loops: tuple[int, ...], rblock: bool) -> None:
        for item in seq.items:
            if not isinstance(item, YMap) or id(item) in self.index:
                continue
            k = len(self.end)
            self.index[id(item)] = k
            self.end.append(k)
            self.loops.append(loops)
            self.rblock.append(rblock)
            kind = node_kind(item)
            key = {"question": "id", "info": "info", "block": "block", "loop": "loop"}.get(kind or "")
            ident = item.items.get(key) if key else None
            if isinstance(ident, Scalar) and isinstance(ident.text, str):
                self.ids.setdefault(ident.text, k)
                self.all_ids.setdefault(ident.text, ident.pos)
            body = item.items.get("body")
            if kind in ("block", "loop") and isinstance(body, YSeq):
                randomised = kind == "block" and isinstance(item.items.get("randomize"), Scalar)
                self._walk(body, (*loops, k) if kind == "loop" else loops, rblock or randomised)
            self.end[k] = len(self.end) - 1


# --------------------------------------------------------------------------- the compiler


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.languages: tuple[str, ...] = ("und",)
        self.vars: dict[str, Var] = {}
        self.lower_vars: dict[str, str] = {}
        self.broken_prefixes: set[str] = set()
        self.node_ids: dict[str, Pos] = {}
        self.lists: dict[str, tuple[model.Option, ...]] = {}
        self.list_pos: dict[str, Pos] = {}
        self.broken_lists: Container[str] = set()  # declared but refused: references are not reported again
        self.dispositions: dict[str, model.Disposition] = {}
        self.special_codes: dict[str, int] = dict(model.DEFAULT_SPECIAL_CODES)
        self.special_labels: dict[str, dict[str, str]] = {}
        self.special_label_pos: dict[str, Pos] = {}
        self.sample_names: set[str] = set()
        self.quota_fields: dict[str, Fields] = {}
        self.quotas: dict[str, model.Quota] = {}
        self.quota_checkpoints: dict[str, Pos] = {}
        self.positions: dict[str, Pos] = {}  # question/block/quota/sample id -> position, for name errors
        self.option_pos: dict[tuple[str, int], Pos] = {}
        self.end_count = 0
        self.doc = _DocIndex(None)
        self.pending: dict[int, list[str]] = {}
        self.loop_stack: list[_LoopInfo] = []
        self.effective_show_if: dict[str, str] = {}
        self.grid_ids: set[str] = set()
        self.loop_names: dict[str, str] = {}
        self._current_rblocks: tuple[str, ...] = ()
        self._self_id: str | None = None
        self.long_labels: set[str] = set()  # questions whose own label was already reported as too long

    # ------------------------------------------------------------------ reporting

    def error(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(self.source, pos.line, pos.col, message))

    def structure(self, schema, node: Node) -> Fields | None:
        raw: list[tuple[Pos, str]] = []
        result = validate(schema, node, raw)
        for pos, message in raw:
            self.error(pos, message)
        return result  # type: ignore[return-value]

    # ------------------------------------------------------------------ top level

    def run(self, root: Node) -> model.Questionnaire | None:
        if not isinstance(root, YMap):
            self.error(root.pos, "a questionnaire must be a mapping of keys (format, id, version, title, ...)")
            return None
        top = self._top(root)
        self.languages = self._languages(top)
        fmt_ok = self._format(top)
        self._special_codes(top)
        self._dispositions(top)
        self._lists(top)
        sample = self._sample(top)
        self._quota_definitions(top)
        flow_node = root.items.get("flow")
        self.doc = _DocIndex(flow_node)
        flow: tuple[model.Node, ...] = ()
        if isinstance(flow_node, YSeq):
            if not flow_node.items:
                self.error(flow_node.pos, "flow: the flow is empty")
            flow = self._body(flow_node, Ctx())
        for quota_id, fields in self.quota_fields.items():
            if quota_id not in self.quota_checkpoints:
                self.error(
                    fields.at("id"), f"quota {quota_id!r} is never assigned: add '- quota: {quota_id}' to the flow"
                )
        if not fmt_ok or "id" not in top or "version" not in top or "title" not in top:
            return None
        title = self.text(top["title"], "title", scope_check=False)
        questionnaire = model.Questionnaire(
            id=top["id"],
            version=top["version"],
            title=title or _empty_text(self.languages),
            languages=self.languages,
            dispositions=dict(self.dispositions),
            flow=flow,
            special_labels={name: _plain_text(labels) for name, labels in self.special_labels.items()},
            special_defaults=dict(self.special_codes),
            lists=dict(self.lists),
            sample=sample,
            quotas=tuple(self.quotas[q] for q in self.quota_fields if q in self.quotas),
            source_name=self.source,
        )
        self._check_exports(questionnaire)
        return questionnaire

    def _top(self, root: YMap) -> Fields:
        """The top level key by key, so one bad section does not hide the others."""
        fields = Fields(root)
        children = {child.name: child for child in TOP.children}
        for key, child in children.items():
            if key not in root.items:
                if child.missing is not _required():
                    continue
                self.error(root.pos, f"questionnaire: missing key {key!r}")
                continue
            value = self.structure(child, root.items[key])
            if value is not None:
                fields[key] = value
        for key in root.items:
            if key not in children:
                self.error(root.key_pos[key], f"questionnaire: unknown key {key!r}{did_you_mean(key, children)}")
        return fields

    def _format(self, top: Fields) -> bool:
        fmt = top.get("format")
        if fmt is None:
            return False
        match = FORMAT_RE.match(fmt)
        if not match:
            self.error(top.at("format"), f"format: expected 'cati/1', found {fmt!r}")
            return False
        if match.group(1) != "1":
            self.error(top.at("format"), f"format: unsupported version {fmt!r}; this checker reads cati/1")
            return False
        ident = top.get("id")
        if ident is not None and not ID_RE.match(ident):
            self.error(top.at("id"), f"id: {ident!r} must start with a lower-case letter and use only a-z, 0-9 and '_'")
            top.pop("id")
        if top.get("version") == 0:
            self.error(top.at("version"), "version: revisions start at 1")
        return True

    def _languages(self, top: Fields) -> tuple[str, ...]:
        langs = top.get("languages")
        if not langs:
            return ("und",)
        seen: list[str] = []
        for lang, pos in zip(langs, langs.item_pos, strict=True):
            if lang in seen:
                self.error(pos, f"languages: {lang!r} is listed twice")
            else:
                seen.append(lang)
        return tuple(seen)

    # ------------------------------------------------------------------ texts

    def text(
        self,
        raw: RawText | None,
        what: str,
        *,
        scope_check: bool = True,
        allow_self: str | None = None,
        value_label: bool = False,
        only_loop_fills: bool = False,
    ) -> model.Text | None:
        """A text in every language; fills checked against the current scope."""
        if raw is None:
            return None
        strings: dict[str, Src] = {}
        if raw.plain is not None:
            if len(self.languages) > 1:
                self.error(
                    raw.pos,
                    f"{what}: a plain text, but the questionnaire has the languages {', '.join(self.languages)}; "
                    f"write {{{': ..., '.join(self.languages)}: ...}}",
                )
                return None
            strings[self.languages[0]] = raw.plain
        else:
            for lang, src in raw.langs.items():
                if lang not in self.languages:
                    hint = did_you_mean(lang, self.languages)
                    self.error(raw.lang_pos[lang], f"{what}: language {lang!r} is not in languages{hint}")
                else:
                    strings[lang] = src
            missing = [lang for lang in self.languages if lang not in raw.langs]
            if missing:
                self.error(raw.pos, f"{what}: missing the {', '.join(missing)} text")
                return None
            blank = [lang for lang, src in strings.items() if not src.text.strip()]
            if blank and len(blank) < len(strings):  # all blank may be meant (an empty salutation)
                empty = ", ".join(blank)
                message = f"{what}: the {empty} text is empty while the others are not (every text in every language)"
                self.error(strings[blank[0]].pos, message)
        parts: dict[str, model.Template] = {}
        for lang, src in strings.items():
            if value_label:
                self.value_label(src.pos, what, src.text, f" ({lang})")
            parts[lang] = self.template(
                src, what, scope_check=scope_check, allow_self=allow_self, only_loop_fills=only_loop_fills
            )
        return model.Text(raw={lang: src.text for lang, src in strings.items()}, parts=parts)

    def value_label(self, pos: Pos, what: str, text: str, where: str = "") -> None:
        """§9: a value label longer than SPSS keeps is refused, not truncated silently."""
        size = len(text.encode())
        if size > MAX_VALUE_LABEL_BYTES:
            self.error(pos, f"{what}: value label is {size} bytes{where}; SPSS keeps only {MAX_VALUE_LABEL_BYTES}")

    def template(
        self,
        src: Src,
        what: str,
        *,
        scope_check: bool = True,
        allow_self: str | None = None,
        only_loop_fills: bool = False,
    ) -> model.Template:
        parts, refs, errors = fills.parse_template(src.text)
        for err in errors:
            self.error(src.at(err.offset), f"{what}: {err.message}")
        for ref in refs:
            fill = ref.fill
            pos = src.at(ref.offset + 1)
            if fill.kind in ("loop_label", "loop_code"):
                if not self.loop_stack:
                    self.error(pos, f"{what}: {{${fill.kind[5:]}}} can only be used inside a loop")
                continue
            if only_loop_fills and fill.kind != "interviewer":
                self.error(pos, f"{what}: only {{$label}} and {{$code}} may be filled in here")
                continue
            if fill.kind == "interviewer":
                if only_loop_fills:
                    self.error(pos, f"{what}: only {{$label}} and {{$code}} may be filled in here")
                continue
            if not scope_check:
                self.error(pos, f"{what}: fills are not possible here")
                continue
            if fill.kind == "expr" and fill.expr is not None:
                self.check_expr(fill.expr, src, what, allow_self=allow_self, base=ref.offset + 2)
                continue
            var = self.resolve(fill.name or "", src, what, allow_self=allow_self, offset=ref.offset + 1)
            if var is not None and fill.kind == "label" and not var.labelled and var.kind != "broken":
                self.error(
                    pos,
                    f"{what}: {{{fill.name}:label}} needs a variable with answer labels "
                    f"(single, multi, grid row, or computed/sample with options)",
                )
        return parts

    # ------------------------------------------------------------------ expressions

    def expr(
        self,
        src: Src | None,
        what: str,
        *,
        allow_random: bool = False,
        allow_self: str | None = None,
    ) -> expressions.Expr | None:
        if src is None:
            return None
        try:
            parsed = expressions.parse(src.text, allow_random=allow_random)
        except expressions.ExpressionError as exc:
            message = getattr(exc, "message", None) or str(exc)
            self.error(src.at(getattr(exc, "offset", None)), f"{what}: {message}")
            return None
        return parsed if self.check_expr(parsed, src, what, allow_self=allow_self) else None

    def expr_type(self, expr: expressions.Expr) -> str:
        """:func:`expressions.infer_type` with the types of the earlier variables it uses."""
        name_types = {}
        for name in expr.names:
            var = self.vars.get(name)
            if var is not None:
                name_types[name] = var.vtype
        return expressions.infer_type(expr, name_types=name_types, dates=True)

    def check_expr(
        self, parsed: expressions.Expr, src: Src, what: str, *, allow_self: str | None = None, base: int = 0
    ) -> bool:
        ok = True
        for name in sorted(parsed.names):
            if self.resolve(name, src, what, allow_self=allow_self, offset=None, base=base) is None:
                ok = False
        if parsed.uses_loop and not self.loop_stack:
            self.error(src.at(base), f"{what}: $code and $label can only be used inside a loop")
            ok = False
        for name in sorted(getattr(parsed, "label_args", ()) or ()):
            var = self._lookup(name, allow_self)
            if var is not None and not var.labelled and var.kind != "broken":
                self.error(
                    src.at(_name_offset(src.text, name, base)),
                    f"{what}: label({name}) needs a variable with answer labels",
                )
                ok = False
        for ref in sorted(getattr(parsed, "quota_refs", ()) or ()):
            # quota_open('q') or quota_open('q.cell'), as the engine reads them.
            quota, dot, cell = ref.partition(".")
            if quota not in self.quota_fields:
                hint = did_you_mean(quota, self.quota_fields)
                self.error(src.at(_name_offset(src.text, ref, base)), f"{what}: unknown quota {quota!r}{hint}")
                ok = False
                continue
            cells = self._quota_cells(quota)
            if dot and cells is not None and cell not in cells:
                offset = _name_offset(src.text, ref, base) + len(quota) + 1
                self.error(
                    src.at(offset),
                    f"{what}: quota {quota!r} has no cell {cell!r}{did_you_mean(cell, cells)}",
                )
                ok = False
        return ok

    def _quota_cells(self, quota: str) -> list[str] | None:
        """The cell ids of a declared quota; None when its definition is broken (reported there)."""
        fields = self.quota_fields.get(quota)
        if fields is None or "cells" not in fields:
            return None
        return [cell["id"] for cell in fields["cells"]]

    def _lookup(self, name: str, allow_self: str | None = None) -> Var | None:
        return self.vars.get(name)

    def resolve(
        self, name: str, src: Src, what: str, *, allow_self: str | None, offset: int | None, base: int = 0
    ) -> Var | None:
        """The variable ``name`` refers to here, or ``None`` after reporting why it cannot.

        ``offset`` is where the name stands in ``src``; ``None`` means "search for it from
        ``base``", done only when there is something to report (it costs a regex).
        """
        var = self._lookup(name, allow_self)
        if var is not None:
            shared = [b for b in var.rblocks if b in self._current_rblocks]
            if shared and var.name != allow_self and not name.startswith(f"{allow_self}_"):
                self.error(
                    self._name_pos(src, name, offset, base),
                    f"{what}: {name} is in the randomised block {shared[-1]!r} too, so it may be asked "
                    f"later; refer only to questions outside the block",
                )
                return None
            return var
        if any(name.startswith(prefix) for prefix in self.broken_prefixes):
            return Var(name, "broken")
        self.error(self._name_pos(src, name, offset, base), f"{what}: {self._unknown_reason(name)}")
        return None

    @staticmethod
    def _name_pos(src: Src, name: str, offset: int | None, base: int) -> Pos:
        return src.at(offset if offset is not None else _name_offset(src.text, name, base))

    def _unknown_reason(self, name: str) -> str:
        base = name.rsplit("_", 1)[0] if "_" in name else name
        owner = self.vars.get(base)
        if owner is not None and owner.qtype == "multi":
            return f"{name} is not a variable; use selected({base}, {name.rsplit('_', 1)[1]})"
        if name in self.grid_ids:
            return f"{name} is a grid; refer to its rows as {name}_<row code>"
        if name in self.loop_names:
            return f"{name} is inside loop {self.loop_names[name]!r}; outside it refer to {name}_<item code>"
        if name in self.doc.all_ids or name == self._self_id:
            return f"{name} is not asked before this point (only earlier questions can be used)"
        lowered = self.lower_vars.get(name.lower())
        hint = f" (did you mean {lowered!r}?)" if lowered else did_you_mean(name, self.vars)
        return f"unknown variable {name!r}{hint}"

    def define(self, var: Var) -> None:
        self.vars[var.name] = var
        self.lower_vars.setdefault(var.name.lower(), var.name)
        if self.loop_stack:
            self.loop_stack[-1].names.append(var.name)

    # ------------------------------------------------------------------ sections

    def _special_codes(self, top: Fields) -> None:
        for name, labels in BUILTIN_SPECIAL_LABELS.items():
            # de-CH gets the de label: built-in texts go by the base language
            builtin = {lang: text for lang in self.languages if (text := for_language(labels, lang)) is not None}
            if len(builtin) == len(self.languages):
                self.special_labels[name] = builtin
        node = top.get("special_codes")
        if node is None:
            return
        fields = self.structure(SPECIAL_CODES, node)
        if fields is None:
            return
        for name, entry in fields.items():
            self.special_codes[name] = entry["code"]
            text = self.text(entry.get("text"), f"special_codes.{name}", scope_check=False, value_label=True)
            if text is not None:
                self.special_labels[name] = dict(text.raw)
                self.special_label_pos[name] = entry.pos
            elif entry.get("text") is None:
                self.error(
                    entry.pos, f"special_codes.{name}: give its label in every language ({', '.join(self.languages)})"
                )
        codes: dict[int, str] = {}
        for name, code in self.special_codes.items():
            if code in codes:
                self.error(fields.at(name), f"special_codes: {name} and {codes[code]} have the same code {code}")
            codes[code] = name

    def _dispositions(self, top: Fields) -> None:
        node = top.get("dispositions")
        if node is None:
            return
        fields = self.structure(DISPOSITIONS, node)
        if fields is None:
            return
        codes: dict[int, str] = {}
        for name, entry in fields.items():
            pos = fields.at(name)
            if isinstance(entry, int):
                if name != "COMPLETE":
                    self.error(pos, f'dispositions.{name}: write {{code: {entry}, aapor: "X.Y"}} (AAPOR class needed)')
                    continue
                code, aapor = entry, "1.1"
            else:
                code, aapor = entry["code"], entry["aapor"]
                if not AAPOR_RE.match(aapor):
                    self.error(
                        entry.at("aapor"),
                        f"dispositions.{name}: aapor {aapor!r} is not an AAPOR code like '2.112' or '4.70'",
                    )
                    continue
                if name == "COMPLETE" and aapor != "1.1":
                    self.error(entry.at("aapor"), f"dispositions.COMPLETE: aapor must be '1.1', found {aapor!r}")
            if code in codes:
                where = entry.at("code") if isinstance(entry, Fields) else pos
                self.error(where, f"dispositions.{name}: code {code} is already used by {codes[code]}")
                continue
            codes[code] = name
            self.value_label(fields.key_at(name), f"dispositions.{name}", name)  # the name labels `disposition`
            self.dispositions[name] = model.Disposition(name, code, aapor)
        if "COMPLETE" not in fields:
            self.error(fields.pos, "dispositions: COMPLETE is required (e.g. 'COMPLETE: 1')")

    def _lists(self, top: Fields) -> None:
        node = top.get("lists")
        if node is None:
            if top.nodes.get("lists") is not None:  # written, but no mapping: any list name may be meant
                self.broken_lists = _Everything()
            return
        fields = self.structure(LISTS, node)
        if fields is not None:
            for name, options in fields.items():
                self.list_pos[name] = fields.key_at(name)
                self.lists[name] = self.options(options, f"lists.{name}", owner=None, shared=True)
        if isinstance(node, YMap):
            self.broken_lists = {name for name in node.items if not self.lists.get(name)}

    def _sample(self, top: Fields) -> tuple[model.SampleField, ...]:
        node = top.get("sample")
        if node is None:
            return ()
        result = []
        for item in node.items:
            fields = self.structure(SAMPLE_FIELD, item)
            if fields is None:
                if isinstance(item, YMap) and isinstance(item.items.get("name"), Scalar):
                    self.define(Var(item.items["name"].text, "broken"))
                continue
            name = fields["name"]
            if name in self.vars:
                self.error(fields.at("name"), f"sample: field {name!r} is declared twice")
                continue
            if problem := _expression_word(name):
                self.error(fields.at("name"), f"sample: {problem}")
                continue
            options: tuple[model.Option, ...] = ()
            if fields["type"] == "single":
                options = self.choice_options(fields, f"sample field {name}", owner=None)
            elif "options" in fields or "list" in fields:
                self.error(
                    fields.key_at("options" if "options" in fields else "list"),
                    f"sample field {name}: options only apply to type single",
                )
            self.positions[name] = fields.at("name")
            self.sample_names.add(name)
            vtype = {"text": "string", "date": "date"}.get(fields["type"], "numeric")
            self.define(Var(name, "sample", qtype=fields["type"], labelled=bool(options), options=options, vtype=vtype))
            label = None
            if "label" in fields:
                raw = fields["label"]
                label_text = (
                    self.text(raw, f"sample field {name} label", scope_check=False) if raw.plain is None else None
                )
                if raw.plain is not None:
                    label = dict.fromkeys(self.languages, raw.plain.text)
                elif label_text is not None:
                    label = dict(label_text.raw)
            result.append(model.SampleField(name, fields["type"], options, fields.get("pii", False), label))
        return tuple(result)

    def _quota_definitions(self, top: Fields) -> None:
        node = top.get("quotas")
        if node is None:
            return
        for item in node.items:
            fields = self.structure(QUOTA, item)
            if fields is None:
                if isinstance(item, YMap) and isinstance(item.items.get("id"), Scalar):
                    self.quota_fields.setdefault(item.items["id"].text, Fields(item))
                continue
            quota_id = fields["id"]
            if quota_id in self.quota_fields:
                self.error(fields.at("id"), f"quotas: {quota_id!r} is defined twice")
                continue
            self.quota_fields[quota_id] = fields
            self.positions[f"quota:{quota_id}"] = fields.at("id")
            mode = fields.get("mode", "hard")
            on_full = fields.get("on_full")
            if on_full is None and mode != "counter":
                self.error(fields.pos, f"quota {quota_id}: on_full is required (the disposition when a cell is full)")
            elif on_full is not None and on_full not in self.dispositions:
                self.error(
                    fields.at("on_full"),
                    f"quota {quota_id}: on_full {on_full!r} is not a disposition"
                    f"{did_you_mean(on_full, self.dispositions)}",
                )
            if "overshoot" in fields and mode != "soft":
                self.error(fields.key_at("overshoot"), f"quota {quota_id}: overshoot only applies to mode: soft")
            seen: set[str] = set()
            for cell, pos in zip(fields["cells"], fields["cells"].item_pos, strict=True):
                if cell["id"] in seen:
                    self.error(pos, f"quota {quota_id}: cell {cell['id']!r} is defined twice")
                seen.add(cell["id"])
                self.value_label(cell.at("id"), f"quota {quota_id} cell", cell["id"])  # it labels quota_<id>

    # ------------------------------------------------------------------ options

    def options(
        self, items: PList, what: str, *, owner: str | None, shared: bool = False, rows: bool = False
    ) -> tuple[model.Option, ...]:
        result: list[model.Option] = []
        seen: set[int] = set()
        noun = "row" if rows else "option"
        for fields in items:
            code = fields["code"]
            if code in seen:
                self.error(fields.at("code"), f"{what}: {noun} code {code} is used twice")
                continue
            seen.add(code)
            if owner is not None:
                self.option_pos[(owner, code)] = fields.at("code")
            label = f"{what} {noun} {code}"
            text = self.text(fields.get("text"), label, value_label=not rows)
            if fields.get("text") is None:
                self.error(fields.pos, f"{label}: missing its text ({', '.join(self.languages)})")
            show_if = None
            if "show_if" in fields:
                if shared:
                    self.error(fields.at("show_if"), f"{label}: show_if is not possible in a shared list")
                else:
                    show_if = self.expr(fields["show_if"], f"{label} show_if")
            other = None
            if "other" in fields:
                spec = fields["other"]
                if problem := _expression_word(spec["id"]):
                    self.error(spec.at("id"), f"{label} other: {problem}")
                other = model.Other(spec["id"], spec.get("max_length", DEFAULT_OTHER_LENGTH))
            result.append(
                model.Option(
                    code=code,
                    text=text or _empty_text(self.languages),
                    pos=fields.pos,
                    show_if=show_if,
                    fixed=fields.get("fixed", False),
                    exclusive=fields.get("exclusive", False),
                    other=other,
                )
            )
        return tuple(result)

    def choice_options(self, fields: Fields, what: str, owner: str | None) -> tuple[model.Option, ...]:
        """``options`` or ``list`` (exactly one of them)."""
        has_options, has_list = "options" in fields, "list" in fields
        if has_options and has_list:
            self.error(fields.key_at("list"), f"{what}: give either options or list, not both")
            return ()
        if has_list:
            name = fields["list"]
            if name in self.broken_lists:
                return ()
            if name not in self.lists:
                self.error(fields.at("list"), f"{what}: unknown list {name!r}{did_you_mean(name, self.lists)}")
                return ()
            if owner is not None:
                for option in self.lists[name]:
                    self.option_pos[(owner, option.code)] = option.pos
            return self.lists[name]
        if has_options:
            return self.options(fields["options"], what, owner=owner)
        self.error(fields.pos, f"{what}: needs options or list")
        return ()

    # ------------------------------------------------------------------ flow

    def _body(self, seq: YSeq, ctx: Ctx) -> tuple[model.Node, ...]:
        nodes: list[model.Node] = []
        unconditional_end: Pos | None = None
        for item in seq.items:
            if unconditional_end is not None:
                self.error(
                    item.pos, f"this node is never reached: the end at line {unconditional_end.line} has no condition"
                )
                unconditional_end = None
            node = self._node(item, ctx)
            if node is None:
                continue
            nodes.append(node)
            if isinstance(node, model.End) and node.condition is None and node.show_if is None:
                unconditional_end = node.pos
        return tuple(nodes)

    def _node(self, item: Node, ctx: Ctx) -> model.Node | None:
        if not isinstance(item, YMap):
            self.error(
                item.pos, "a flow node must be a mapping (a question with id/type, or info, block, loop, quota, end)"
            )
            return None
        kind = node_kind(item)
        if kind is None:
            present = [k for k in ("id", "info", "block", "loop", "quota", "end") if k in item.items]
            if len(present) > 1:
                self.error(
                    item.pos,
                    f"a flow node has either an id (question) or one of info/block/loop/quota/end; "
                    f"found {', '.join(present)}",
                )
            else:
                self.error(
                    item.pos,
                    "cannot tell what this flow node is: give a question 'id' and 'type', or one "
                    "of info, block, loop, quota, end",
                )
            return None
        index = self.doc.index.get(id(item), -1)
        self._current_rblocks = ctx.rblocks
        if kind == "question":
            return self._question(item, ctx, index)
        fields = self.structure(NODE_SCHEMAS[kind], item)
        if fields is None:
            ident = item.items.get(kind)
            if kind in ("block", "loop") and isinstance(ident, Scalar):
                self.broken_prefixes.add(ident.text)
            return None
        handler = {
            "info": self._info,
            "block": self._block,
            "loop": self._loop,
            "quota": self._quota,
            "end": self._end,
        }[kind]
        return handler(fields, ctx, index)

    def _claim_id(self, ident: str, pos: Pos) -> bool:
        problem = name_problem(ident) or _expression_word(ident)
        if problem:
            self.error(pos, problem)
            return False
        previous = self.node_ids.get(ident.lower())
        if previous is not None:
            self.error(pos, f"id {ident!r} is already used at line {previous.line} (ids are compared ignoring case)")
            return False
        if ident.lower() in {name.lower() for name in RESERVED_NAMES}:
            self.error(pos, f"id {ident!r} is reserved for paradata ({', '.join(RESERVED_NAMES)})")
            return False
        if ident in self.sample_names:
            self.error(pos, f"id {ident!r} is already a sample field")
            return False
        self.node_ids[ident.lower()] = pos
        return True

    def show_if(self, fields: Fields, index: int, what: str, key: str = "show_if") -> expressions.Expr | None:
        """The node's own ``show_if`` combined with the conditions of gotos that skip it."""
        own = self.expr(fields.get(key), f"{what} {key}") if key in fields else None
        skips = self.pending.pop(index, [])
        if not skips:
            return own
        pieces = ([f"({own.source})"] if own is not None else []) + [f"not ({c})" for c in skips]
        source = " and ".join(pieces)
        try:
            return expressions.parse(source)
        except expressions.ExpressionError as exc:
            self.error(
                fields.pos,
                f"{what}: cannot combine show_if with the goto conditions that skip it "
                f"({getattr(exc, 'message', exc)})",
            )
            return own

    def _info(self, fields: Fields, ctx: Ctx, index: int) -> model.Node | None:
        ident = fields["info"]
        if not self._claim_id(ident, fields.at("info")):
            return None
        show_if = self.show_if(fields, index, f"info {ident}")
        text = self.text(fields["text"], f"info {ident} text")
        instruction = self.text(fields.get("instruction"), f"info {ident} instruction")
        self._variants(fields, ident)
        self._gotos(fields, index, ident)
        return model.Info(
            id=ident, pos=fields.pos, show_if=show_if, text=text or _empty_text(self.languages), instruction=instruction
        )

    def _block(self, fields: Fields, ctx: Ctx, index: int) -> model.Node | None:
        ident = fields["block"]
        if not self._claim_id(ident, fields.at("block")):
            return None
        show_if = self.show_if(fields, index, f"block {ident}")
        randomize = fields.get("randomize")
        self.positions[ident] = fields.at("block")
        if not fields["body"].items:
            self.error(fields.at("body"), f"block {ident}: the body is empty")
        inner = ctx.inside(
            rblocks=(*ctx.rblocks, ident) if randomize else ctx.rblocks,
            conditions=(*ctx.conditions, show_if.source) if show_if is not None else ctx.conditions,
        )
        body = self._body(fields["body"], inner)
        self._current_rblocks = ctx.rblocks
        return model.Block(id=ident, pos=fields.pos, show_if=show_if, body=body, randomize=randomize)

    def _loop(self, fields: Fields, ctx: Ctx, index: int) -> model.Node | None:
        ident = fields["loop"]
        if not self._claim_id(ident, fields.at("loop")):
            return None
        what = f"loop {ident}"
        show_if = self.show_if(fields, index, what)
        over_name = fields.get("over")
        over = None
        items: tuple[model.Option, ...] | None = None
        candidates: tuple[model.Option, ...] = ()
        count = None
        loop_max = fields.get("max")
        if (over_name is None) == ("count" not in fields):
            self.error(fields.pos, f"{what}: give either 'over' (a single/multi question or a list) or 'count' + 'max'")
        elif over_name is not None:
            if "max" in fields:
                self.error(fields.key_at("max"), f"{what}: 'max' belongs to count loops")
            var = self.vars.get(over_name)
            if var is not None and var.kind != "broken":
                if var.qtype not in ("single", "multi"):
                    self.error(
                        fields.at("over"),
                        f"{what}: over {over_name} must be a single or multi question (it is {var.qtype})",
                    )
                over, candidates = over_name, var.options
            elif over_name in self.lists:
                items = candidates = self.lists[over_name]
            elif var is None and over_name not in self.broken_lists:
                self.error(
                    fields.at("over"),
                    f"{what}: over {over_name!r} is neither an earlier single/multi "
                    f"question nor a list{did_you_mean(over_name, [*self.vars, *self.lists])}",
                )
        else:
            count = self.expr(fields["count"], f"{what} count")
            kind = self.expr_type(count) if count is not None else "unknown"
            if kind in _NOT_A_NUMBER:
                # the engine runs a count loop only for a number: this one would never run
                noun = _NOT_A_NUMBER[kind]
                self.error(fields["count"].pos, f"{what}: count gives {noun}, not a number of iterations")
                count = None
            if loop_max is None:
                self.error(fields.pos, f"{what}: a count loop needs 'max' (the most iterations, for export names)")
            else:
                candidates = tuple(
                    model.Option(i, _plain_text({lang: str(i) for lang in self.languages}), fields.pos)
                    for i in range(1, loop_max + 1)
                )
        self.loop_stack.append(_LoopInfo(ident))
        where = self.expr(fields.get("where"), f"{what} where")
        export_items = _static_filter(candidates, where, self.languages)
        if not fields["body"].items:
            self.error(fields.at("body"), f"{what}: the body is empty")
        inner = ctx.inside(loops=(*ctx.loops, ident))
        body = self._body(fields["body"], inner)
        self._current_rblocks = ctx.rblocks
        info = self.loop_stack.pop()
        for name in info.names:
            var = self.vars.pop(name, None)
            if var is None:
                continue
            self.loop_names.setdefault(var.base, ident)
            for item in export_items:
                suffix = f"_{item.code}{var.suffix}"
                self.define(replace(var, name=f"{var.base}{suffix}", suffix=suffix))
        return model.Loop(
            id=ident,
            pos=fields.pos,
            show_if=show_if,
            body=body,
            over=over,
            items=items,
            where=where,
            count=count,
            max=loop_max,
            export_items=export_items,
        )

    def _quota(self, fields: Fields, ctx: Ctx, index: int) -> model.Node | None:
        quota_id = fields["quota"]
        pos = fields.at("quota")
        show_if = self.show_if(fields, index, f"quota {quota_id}")
        if quota_id in self.quota_checkpoints:
            self.error(pos, f"quota {quota_id!r} is already assigned at line {self.quota_checkpoints[quota_id].line}")
            return None
        definition = self.quota_fields.get(quota_id)
        if definition is None:
            self.error(pos, f"unknown quota {quota_id!r}{did_you_mean(quota_id, self.quota_fields)}")
            return None
        self.quota_checkpoints[quota_id] = pos
        if ctx.loops:
            self.error(pos, f"quota {quota_id!r} cannot be assigned inside a loop")
            return None
        if "cells" not in definition:
            return None
        cells = []
        sample_only = True
        for cell in definition["cells"]:
            condition = self.expr(cell["if"], f"quota {quota_id} cell {cell['id']}")
            if condition is None:
                continue
            if not set(condition.names) <= self.sample_names:
                sample_only = False
            cells.append(model.QuotaCell(cell["id"], condition, cell["target"], cell.pos))
        mode = definition.get("mode", "hard")
        self.quotas[quota_id] = model.Quota(
            id=quota_id,
            on_full=definition.get("on_full") or "",
            cells=tuple(cells),
            pos=definition.pos,
            mode=mode,
            overshoot=float(definition.get("overshoot", 0.0)),
            sample_only=sample_only,
        )
        return model.QuotaCheckpoint(id=f"quota:{quota_id}", pos=fields.pos, show_if=show_if, quota=quota_id)

    def _end(self, fields: Fields, ctx: Ctx, index: int) -> model.Node | None:
        self.end_count += 1
        name = fields["end"]
        if name not in self.dispositions:
            self.error(fields.at("end"), f"end: {name!r} is not a disposition{did_you_mean(name, self.dispositions)}")
        show_if = self.show_if(fields, index, "end")
        condition = self.expr(fields.get("if"), "end if")
        text = self.text(fields.get("text"), "end text")
        if (condition is None and "if" in fields) or (show_if is None and "show_if" in fields):
            return None  # a broken condition (reported) is no unconditional end: nothing after it is unreachable
        return model.End(
            id=f"end:{self.end_count}",
            pos=fields.pos,
            show_if=show_if,
            disposition=name,
            condition=condition,
            text=text,
        )

    def _variants(self, fields: Fields, ident: str) -> tuple[model.Variant, ...]:
        result = []
        for n, variant in enumerate(fields.get("variants", ()), start=1):
            what = f"{ident} variant {n}"
            condition = self.expr(variant["if"], f"{what} if")
            text = self.text(variant.get("text"), what)
            if variant.get("text") is None:
                self.error(variant.pos, f"{what}: missing its text ({', '.join(self.languages)})")
            if condition is not None and text is not None:
                result.append(model.Variant(condition, text))
        return tuple(result)

    def _gotos(self, fields: Fields, index: int, ident: str) -> None:
        for entry in fields.get("goto", ()):
            what = f"{ident} goto"
            condition = self.expr(entry["if"], f"{what} if", allow_self=ident)
            target = entry["to"]
            pos = entry.at("to")
            t = self.doc.ids.get(target)
            if t is None:
                self.error(pos, f"{what}: unknown target {target!r}{did_you_mean(target, self.doc.ids)}")
                continue
            if t <= index:
                self.error(pos, f"{what}: {target!r} comes before {ident}; goto may only jump forward")
                continue
            if self.doc.loops[t] != self.doc.loops[index]:
                self.error(pos, f"{what}: cannot jump into or out of a loop")
                continue
            if self.doc.rblock[t] or self.doc.rblock[index]:
                self.error(pos, f"{what}: goto cannot be used inside a randomised block (the order changes)")
                continue
            if condition is None:
                continue
            k = index + 1
            while k < t:
                if self.doc.end[k] < t:
                    self.pending.setdefault(k, []).append(condition.source)
                    k = self.doc.end[k] + 1
                else:
                    k += 1

    # ------------------------------------------------------------------ questions

    def _question(self, item: YMap, ctx: Ctx, index: int) -> model.Node | None:
        qtype_node = item.items.get("type")
        ident_node = item.items.get("id")
        ident_text = ident_node.text if isinstance(ident_node, Scalar) else None
        qtype = qtype_node.text if isinstance(qtype_node, Scalar) else None
        if qtype not in QUESTION_TYPES:
            where = qtype_node.pos if qtype_node is not None else item.pos
            if qtype_node is None:
                self.error(item.pos, f"question {ident_text or ''}: missing key 'type' ({', '.join(QUESTION_TYPES)})")
            elif not (isinstance(qtype_node, Scalar) and isinstance(qtype_node.value, str)):
                # a list, mapping, number or null: say what was found, not its Python repr (None)
                found = describe(qtype_node)
                self.error(where, f"type: expected a question type ({', '.join(QUESTION_TYPES)}), found {found}")
            else:
                self.error(
                    where,
                    f"type: {qtype!r} is not a question type ({', '.join(QUESTION_TYPES)})"
                    f"{did_you_mean(str(qtype), QUESTION_TYPES)}",
                )
            self._broken(ident_text)
            return None
        fields = self.structure(question_schema(qtype), item)
        if fields is None:
            self._broken(ident_text)
            return None
        ident = fields["id"]
        if not self._claim_id(ident, fields.at("id")):
            self._broken(None)
            return None
        self.positions[ident] = fields.at("id")
        return _QuestionBuilder(self, fields, qtype, ident, ctx, index).build()

    def _broken(self, ident: str | None) -> None:
        """Keep a broken question's id known, so references to it do not cascade into more errors."""
        if ident:
            self.vars.setdefault(ident, Var(ident, "broken"))
            self.broken_prefixes.add(ident + "_")

    # ------------------------------------------------------------------ exports

    def _check_exports(self, questionnaire: model.Questionnaire) -> None:
        """Names and labels of every generated export variable (§2, §9)."""
        from .codebook import build_codebook  # codebook imports nothing from here; avoids a cycle at import

        registry = NameRegistry()
        for name in RESERVED_NAMES:
            registry.claim(name, "paradata")
        for var in build_codebook(questionnaire):
            if var.kind == "paradata":
                continue
            pos = self._export_pos(var)
            owner = f"{var.question_id or var.answer_key}"
            problem = registry.claim(var.name, owner)
            if problem:
                self.error(pos, f"export variable {var.name}: {problem}")
            if len(var.label.encode()) > MAX_LABEL_BYTES and var.question_id not in self.long_labels:
                self.error(
                    pos,
                    f"export variable {var.name}: label is {len(var.label.encode())} bytes; SPSS keeps "
                    f"only {MAX_LABEL_BYTES}: shorten 'label'",
                )

    def _export_pos(self, var: model.ExportVariable) -> Pos:
        if var.question_id is not None and var.code is not None and var.special is None:
            pos = self.option_pos.get((var.question_id, var.code))
            if pos is not None:
                return pos
        for key in (var.question_id, var.answer_key):
            if key is not None and key in self.positions:
                return self.positions[key]
        return Pos(1, 1)


class _QuestionBuilder:
    """Checks one question and builds its :class:`model.Question`."""

    def __init__(self, compiler: _Compiler, fields: Fields, qtype: str, ident: str, ctx: Ctx, index: int) -> None:
        self.c = compiler
        self.f = fields
        self.qtype = qtype
        self.id = ident
        self.ctx = ctx
        self.index = index
        self.what = f"{ident}"
        self.computed_kind = "unknown"  # infer_type of a computed expression

    def build(self) -> model.Question | None:
        c, f, what = self.c, self.f, self.what
        c._self_id = self.id
        show_if = c.show_if(f, self.index, what)
        specials = self._specials()
        text = None
        if self.qtype != "computed":
            if "text" not in f:
                c.error(f.pos, f"{what}: missing key 'text'")
            text = c.text(f.get("text"), f"{what} text")
        instruction = c.text(f.get("instruction"), f"{what} instruction")
        label = self._label()
        variants = c._variants(f, self.id)
        default = None
        if "default" in f:
            template = c.template(f["default"], f"{what} default")
            default = model.Text(dict.fromkeys(c.languages, f["default"].text), dict.fromkeys(c.languages, template))
        kwargs = getattr(self, f"_{self.qtype}")()
        if kwargs is None:
            c._broken(self.id)
            return None
        special_codes = self._special_codes(specials, kwargs)
        self._define(kwargs)
        checks = self._checks()
        c._gotos(f, self.index, self.id)
        c._self_id = None
        c.effective_show_if[self.id] = show_if.source if show_if is not None else ""
        return model.Question(
            id=self.id,
            pos=f.pos,
            show_if=show_if,
            type=self.qtype,  # type: ignore[arg-type]
            text=text if self.qtype != "computed" else None,
            label=label,
            instruction=instruction,
            variants=variants,
            special=specials,
            special_codes=special_codes,
            checks=checks,
            required=f.get("required", True),
            default=default,
            pii=f.get("pii", False),
            **kwargs,
        )

    # -------------------------------------------------------------- common parts

    def _specials(self) -> tuple[str, ...]:
        result: list[str] = []
        listed = self.f.get("special", ())
        for name, pos in zip(listed, getattr(listed, "item_pos", ()), strict=False):
            if name in result:
                self.c.error(pos, f"{self.what}: special {name} is listed twice")
                continue
            result.append(name)
            if name not in self.c.special_labels:
                self.c.error(
                    pos,
                    f"{self.what}: special {name} has no built-in label in "
                    f"{', '.join(self.c.languages)}; declare it under special_codes",
                )
        return tuple(result)

    def _label(self) -> Mapping[str, str] | None:
        raw: RawText | None = self.f.get("label")
        if raw is None:
            return None
        c = self.c
        strings = dict.fromkeys(c.languages, raw.plain) if raw.plain is not None else dict(raw.langs)
        if raw.plain is None:
            text = c.text(raw, f"{self.what} label", only_loop_fills=True)
            if text is None:
                return None
        else:
            c.template(raw.plain, f"{self.what} label", only_loop_fills=True)
        for lang, src in strings.items():
            size = len(src.text.encode())
            if size > MAX_LABEL_BYTES:
                c.long_labels.add(self.id)
                c.error(src.pos, f"{self.what} label: {size} bytes ({lang}); SPSS keeps only {MAX_LABEL_BYTES}")
        return {lang: src.text for lang, src in strings.items()}

    def _special_codes(self, specials: tuple[str, ...], kwargs: dict) -> dict[str, int]:
        """Export codes of this question's specials: project codes, widened for big numerics (§4)."""
        c, f = self.c, self.f
        codes = dict(c.special_codes)
        if self.qtype in ("numeric",) and kwargs.get("max") is not None:
            codes = widen_special_codes(codes, kwargs["max"])
        overrides = f.get("special_codes")
        if overrides:
            for name, code in overrides.items():
                codes[name] = code
            seen: dict[int, str] = {}
            for name in model.SPECIAL_NAMES:
                if codes[name] in seen:
                    c.error(
                        overrides.pos,
                        f"{self.what} special_codes: {name} and {seen[codes[name]]} share code {codes[name]}",
                    )
                seen[codes[name]] = name
        for name in specials:
            code = codes[name]
            if self.qtype == "numeric" and kwargs.get("min") is not None and kwargs["min"] <= code <= kwargs["max"]:
                c.error(f.pos, f"{self.what}: the code {code} of {name} lies inside min..max; set special_codes")
            for option in (*kwargs.get("options", ()),):
                if option.code == code:
                    c.error(
                        option.pos,
                        f"{self.what}: option code {code} is also the code of {name}; "
                        f"use another code or set special_codes",
                    )
        inexact = [f"{codes[name]} of {name}" for name in specials if abs(codes[name]) > MAX_EXACT_CODE]
        if inexact:  # SPSS stores doubles: 99999999999999997 and 99999999999999998 would be one value
            listed = ", ".join(inexact)
            c.error(f.pos, f"{self.what}: the codes {listed} are too large to store exactly; set special_codes")
        return codes

    def _checks(self) -> tuple[model.Check, ...]:
        c = self.c
        result = []
        for n, check in enumerate(self.f.get("checks", ())):
            what = f"{self.what} check {n + 1}"
            expr = c.expr(check["assert"], f"{what} assert", allow_self=self.id)
            message = c.text(check["message"], f"{what} message", allow_self=self.id)
            if expr is not None and message is not None:
                result.append(model.Check(expr, check.get("severity", "hard"), message, n, check.pos))
        return tuple(result)

    def _define(self, kwargs: dict) -> None:
        """Make this question's answer keys visible to everything after it."""
        c = self.c
        rblocks = self.ctx.rblocks
        options = kwargs.get("options", ())
        if self.qtype == "grid":
            c.grid_ids.add(self.id)
            for row in kwargs["rows"]:
                c.define(Var(f"{self.id}_{row.code}", "row", "grid", True, options, rblocks, vtype="numeric"))
            return
        labelled = self.qtype in LABELLED_TYPES or (self.qtype == "computed" and bool(options))
        vtype = {"text": "string", "date": "date", "multi": "list"}.get(self.qtype, "numeric")
        if self.qtype == "computed":  # a list stays a list for later expressions, though exported as text
            vtype = "list" if self.computed_kind == "list" else kwargs.get("value_type", "numeric")
        c.define(Var(self.id, "question", self.qtype, labelled, options, rblocks, vtype=vtype))
        for option in options:
            if option.other is not None:
                c.define(Var(option.other.id, "other", "text", False, (), rblocks, vtype="string"))

    # -------------------------------------------------------------- per type

    def _choice(self) -> dict | None:
        c, f = self.c, self.f
        options = c.choice_options(f, self.what, owner=self.id)
        if not options:
            return None
        if self.qtype == "single":
            for option in options:
                if option.exclusive:
                    c.error(option.pos, f"{self.what}: 'exclusive' only applies to multi questions")
        return {
            "options": options,
            "read_out": f.get("read_out", True),
            "randomize": f.get("randomize"),
        }

    def _single(self) -> dict | None:
        return self._choice()

    def _multi(self) -> dict | None:
        result = self._choice()
        if result is None:
            return None
        c, f = self.c, self.f
        options = result["options"]
        low, high = f.get("min_choices"), f.get("max_choices")
        if low is not None and high is not None and low > high:
            c.error(f.at("min_choices"), f"{self.what}: min_choices {low} is larger than max_choices {high}")
        if high is not None and high > len(options):
            c.error(f.at("max_choices"), f"{self.what}: max_choices {high} is more than the {len(options)} options")
        if low is not None and low > len(options):
            c.error(f.at("min_choices"), f"{self.what}: min_choices {low} is more than the {len(options)} options")
        if low is not None and low > 1:
            for option in options:
                if option.exclusive:
                    c.error(
                        option.pos,
                        f"{self.what}: exclusive option {option.code} can never be chosen with min_choices {low}",
                    )
        if options and all(option.exclusive for option in options):
            c.error(f.at("options") if "options" in f else f.pos, f"{self.what}: every option is exclusive")
        result.update(min_choices=low, max_choices=high)
        return result

    def _numeric(self) -> dict | None:
        c, f = self.c, self.f
        low, high = f.get("min"), f.get("max")
        ok = True
        for key, value in (("min", low), ("max", high)):
            if value is None:
                c.error(f.pos, f"{self.what}: numeric questions need '{key}'")
                ok = False
            elif isinstance(value, Src):
                c.error(f.at(key), f"{self.what}: {key} must be a number, found {value.text!r}")
                ok = False
        if not ok:
            return None
        if low > high:
            c.error(f.at("min"), f"{self.what}: min {low} is larger than max {high}")
        decimals = f.get("decimals", 0)
        if decimals == 0:
            for key, value in (("min", low), ("max", high)):
                if value != int(value):
                    c.error(f.at(key), f"{self.what}: {key} {value} has decimals but 'decimals' is 0")
        return {"min": low, "max": high, "decimals": decimals, "unit": c.text(f.get("unit"), f"{self.what} unit")}

    def _nps(self) -> dict | None:
        c, f = self.c, self.f
        labels = []
        for key, code in (("low", 0), ("high", 10)):
            raw = f.get(key)
            if raw is not None:
                text = c.text(raw, f"{self.what} {key}", value_label=True)
            else:
                builtin = BUILTIN_NPS_LABELS[key]
                missing = [lang for lang in c.languages if for_language(builtin, lang) is None]
                if missing:
                    c.error(
                        f.pos,
                        f"{self.what}: give '{key}' (the label of {code}); no built-in text for {', '.join(missing)}",
                    )
                    text = None
                else:
                    text = _plain_text({lang: for_language(builtin, lang) or "" for lang in c.languages})
            if text is not None:
                labels.append(model.Option(code, text, f.at(key) if raw is not None else f.pos))
        return {"min": 0, "max": 10, "decimals": 0, "scale_labels": tuple(labels)}

    def _text(self) -> dict | None:
        return {"max_length": self.f.get("max_length", DEFAULT_TEXT_LENGTH), "lines": self.f.get("lines", 1)}

    def _date(self) -> dict | None:
        result: dict[str, object] = {}
        for key in ("min", "max"):
            value = self.f.get(key)
            if value is None:
                result[f"{key}_date"] = None
                continue
            if not isinstance(value, Src):
                self.c.error(self.f.at(key), f"{self.what}: {key} must be an ISO date (2025-03-01) or an expression")
                return None
            if ISO_DATE_RE.match(value.text.strip()):
                try:
                    result[f"{key}_date"] = dt.date.fromisoformat(value.text.strip())
                except ValueError:
                    self.c.error(value.pos, f"{self.what}: {key} {value.text!r} is not a valid date")
                    return None
            else:
                bound = self.c.expr(value, f"{self.what} {key}")
                kind = self.c.expr_type(bound) if bound is not None else "unknown"
                if kind in ("numeric", "boolean"):
                    # a number or true/false never bounds a date: the limit would silently not apply
                    noun = "a number" if kind == "numeric" else "true or false"
                    self.c.error(value.pos, f"{self.what}: {key} {value.text!r} gives {noun}, not a date")
                    return None
                result[f"{key}_date"] = bound
        low, high = result["min_date"], result["max_date"]
        if isinstance(low, dt.date) and isinstance(high, dt.date) and low > high:
            self.c.error(self.f.at("min"), f"{self.what}: min {low} is after max {high}")
        return result

    def _grid(self) -> dict | None:
        c, f = self.c, self.f
        options = c.choice_options(f, self.what, owner=None)
        rows = c.options(f["rows"], self.what, owner=self.id, rows=True)
        if not options or not rows:
            return None
        return {
            "options": options,
            "rows": rows,
            "read_out": f.get("read_out", True),
            "randomize_rows": f.get("randomize_rows"),
        }

    def _computed(self) -> dict | None:
        c, f = self.c, self.f
        expr = c.expr(f["expr"], f"{self.what} expr", allow_random=True)
        when = c.expr(f.get("when"), f"{self.what} when")
        options: tuple[model.Option, ...] = ()
        if "options" in f or "list" in f:
            options = c.choice_options(f, self.what, owner=self.id)
        if expr is None:
            return None
        self.computed_kind = kind = self.c.expr_type(expr)
        if options and kind in ("string", "date", "list"):
            # the export is one numeric code with value labels: a text, date or list cannot go there
            noun = _NOT_A_NUMBER[kind]
            c.error(
                f["expr"].pos, f"{self.what}: a computed question with options holds one code, but expr gives {noun}"
            )
            return None
        value_type = "numeric" if options else _export_type(kind)
        if value_type != "numeric" and "decimals" in f:
            noun = "text" if value_type == "string" else "date"
            c.error(f.key_at("decimals"), f"{self.what}: decimals do not apply to a {noun} value")
        result: dict[str, object] = {"expr": expr, "when": when, "options": options, "value_type": value_type}
        if value_type == "numeric" and not options:
            result["decimals"] = f.get("decimals", COMPUTED_DECIMALS)
        if value_type == "string":
            result["max_length"] = f.get("max_length", DEFAULT_TEXT_LENGTH)
        return result


# --------------------------------------------------------------------------- helpers


def _expression_word(name: str) -> str | None:
    """A variable named ``DK``, ``true`` or ``in`` could never be used: in an expression the word
    means the special, the constant or the operator (``show_if: "DK > 1"`` never reads it)."""
    if name in expressions.RESERVED_WORDS:
        return f"name {name!r} is a word of the expression language (true, null, DK, and, in ...): rename it"
    return None


class _Everything:
    """A container holding every name (all lists are broken when ``lists`` is no mapping)."""

    def __contains__(self, item: object) -> bool:
        return True


_NOT_A_NUMBER = {"string": "a text", "date": "a date", "boolean": "true or false", "list": "a list"}


def _export_type(kind: str) -> str:
    """A computed value's export type (numeric, string or date) from its expression's type.

    A date (``today() + 14``, ``iif(c, D1, D2)``) is stored as an ISO text but read back as a
    date, shown as a date and exported as one (questionnaire-format "Values"). A list (``K1``
    of a multi) is exported as text, its codes comma-separated like a stored order."""
    if kind == "list":
        return "string"
    return kind if kind in ("string", "date") else "numeric"


def widen_special_codes(codes: Mapping[str, int], maximum: float) -> dict[str, int]:
    """§4: codes that could collide with a numeric answer get one more digit than ``max``, all nines."""
    result = dict(codes)
    if maximum < min(codes.values()):
        return result
    digits = len(str(int(abs(maximum))))
    top = 10 ** (digits + 1)
    result.update(DK=top - 2, REF=top - 1, NA=top - 3)
    return result


def _static_filter(
    items: Iterable[model.Option], where: expressions.Expr | None, languages: Sequence[str]
) -> tuple[model.Option, ...]:
    """Loop items that can ever run: ``where`` is applied when it uses only ``$code``/``$label``.

    An item is dropped only when ``where`` is false for it in every language, with ``$label``
    its text as heard (``{{``/``}}`` single braces, as at runtime). An item whose text has fills
    is left to the runtime filter: what it reads like depends on the interview.
    """
    items = tuple(items)
    if where is None or where.names:
        return items
    kept = []
    for item in items:
        labels = [_heard_label(item.text, lang) for lang in languages]
        try:
            keep = any(
                label is None
                or expressions.truthy(
                    where.evaluate(expressions.Env(lambda _name: None, loop_code=item.code, loop_label=label))
                )
                for label in labels
            )
        except Exception:
            keep = True
        if keep:
            kept.append(item)
    return tuple(kept)


def _heard_label(text: model.Text, lang: str) -> str | None:
    """An item's text in ``lang`` as the runtime's ``$label`` gives it (an empty text falls back
    to the first language); None when it has fills."""
    lang = text.language_for(lang)
    parts = text.parts.get(lang)
    if parts is None:
        parts = next(iter(text.parts.values()), ())
    if any(not isinstance(part, str) for part in parts):
        return None
    return "".join(str(part) for part in parts)


def _name_offset(source: str, name: str, base: int = 0) -> int:
    match = re.search(rf"(?<![\w$.]){re.escape(name)}(?!\w)", source[base:])
    return base + (match.start() if match else 0)


def _plain_text(raw: Mapping[str, str]) -> model.Text:
    return model.Text(raw=dict(raw), parts={lang: (text,) if text else () for lang, text in raw.items()})


def _empty_text(languages: Iterable[str]) -> model.Text:
    return _plain_text(dict.fromkeys(languages, ""))


def _required() -> object:
    import colander

    return colander.required
