"""The static index of a questionnaire's flow and the scopes expressions are evaluated in.

Why an index: the engine must compute the next screen in O(nodes skipped), so everything that
does not depend on the interview (node tree, parents, loop nesting, how a name in an expression
maps to an answer key) is computed once per questionnaire version here and shared by all
interviews.

A *scope* is one place in an interview: the loop items the walk is inside of. Inside a loop body
a bare question id means the current iteration (``K2`` -> ``K2_3``), so resolving a name needs
the scope; generated names (``K2_3``, ``C1_2``, ``K1_oth``) resolve the same everywhere.
Answers that are not on the current route read as null: "kept but not asked".
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import expressions as ex
from . import model

ROOT = -1


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node with its place in the tree; ``loops`` are the enclosing loops, outermost first."""

    index: int
    node: model.Node
    parent: int
    position: int
    loops: tuple[int, ...]
    children: tuple[int, ...] = ()

    @property
    def is_screen(self) -> bool:
        node = self.node
        return isinstance(node, model.Info) or (isinstance(node, model.Question) and node.type != "computed")


@dataclass(frozen=True, slots=True)
class NameRef:
    """What a name in an expression or fill refers to.

    ``key`` is set for generated names (fixed answer key); otherwise the answer key is the name
    plus the suffixes of the ``depth`` innermost-enclosing loops of the scope. ``part`` says
    which part of a question the key holds: ``value``, ``row`` (a grid row's code) or ``other``
    (a specify text).
    """

    question: model.Question | None = None
    sample: model.SampleField | None = None
    key: str | None = None
    depth: int = 0
    part: str = "value"


def key_base(node: model.Node) -> str:
    """The answer key of a node outside any loop (quota nodes: their export name)."""
    if isinstance(node, model.QuotaCheckpoint):
        return f"quota_{node.quota}"
    return node.id


def suffix(codes: Sequence[int]) -> str:
    return "".join(f"_{code}" for code in codes)


def row_key(question: model.Question, key: str, code: int) -> str:
    """A grid row's answer key: the row code goes before the loop suffix (``C1_3`` in
    iteration 2 is ``C1_3_2``), as the codebook names it."""
    return f"{question.id}_{code}{key[len(question.id) :]}"


def parse_codes(key: str, base: str, depth: int) -> tuple[int, ...]:
    """The loop item codes encoded in ``key`` (``K2_3`` with base ``K2`` -> ``(3,)``)."""
    if depth == 0:
        return ()
    parts = key[len(base) + 1 :].split("_")
    return tuple(int(p) for p in parts[:depth])


class FlowIndex:
    """Node table, question and name lookup for one compiled questionnaire."""

    def __init__(self, questionnaire: model.Questionnaire) -> None:
        self.questionnaire = questionnaire
        self.nodes: list[NodeInfo] = []
        self.by_id: dict[str, int] = {}
        self.questions: dict[str, model.Question] = {}
        self.sample: dict[str, model.SampleField] = {f.name: f for f in questionnaire.sample}
        self.quotas: dict[str, model.Quota] = {q.id: q for q in questionnaire.quotas}
        self.root_children = self._index(questionnaire.flow, ROOT, ())
        self.names: dict[str, NameRef] = {}
        self._index_names()

    # -- tree --------------------------------------------------------------------------------
    def _index(self, body: Sequence[model.Node], parent: int, loops: tuple[int, ...]) -> tuple[int, ...]:
        indices = []
        for position, node in enumerate(body):
            index = len(self.nodes)
            self.nodes.append(NodeInfo(index, node, parent, position, loops))
            self.by_id.setdefault(node.id, index)
            indices.append(index)
            if isinstance(node, model.Question):
                self.questions[node.id] = node
            if isinstance(node, model.Block | model.Loop):
                inner = (*loops, index) if isinstance(node, model.Loop) else loops
                children = self._index(node.body, index, inner)
                self.nodes[index] = NodeInfo(index, node, parent, position, loops, children)
        return tuple(indices)

    def children(self, container: int) -> tuple[int, ...]:
        return self.root_children if container == ROOT else self.nodes[container].children

    def node(self, node_id: str) -> NodeInfo:
        return self.nodes[self.by_id[node_id]]

    # -- names -------------------------------------------------------------------------------
    def _index_names(self) -> None:
        for name, sample_field in self.sample.items():
            self.names[name] = NameRef(sample=sample_field)
        for info in self.nodes:
            question = info.node
            if not isinstance(question, model.Question):
                continue
            depth = len(info.loops)
            if question.type == "grid":
                self.names[question.id] = NameRef(question=question, depth=depth, part="grid")
            else:
                self.names[question.id] = NameRef(question=question, depth=depth)
            for codes in self.iteration_codes(info.loops):
                tail = suffix(codes)
                if codes:
                    part = "grid" if question.type == "grid" else "value"
                    self.names[question.id + tail] = NameRef(question=question, key=question.id + tail, part=part)
                for row in question.rows:
                    key = f"{question.id}_{row.code}{tail}"
                    self.names[key] = NameRef(question=question, key=key, part="row")
                for option in question.options:
                    if option.other is not None:
                        key = option.other.id + tail
                        self.names[key] = NameRef(question=question, key=key, part="other")

    def iteration_codes(self, loops: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        """Every combination of item codes the given (nested) loops can have."""
        return itertools.product(*(self.possible_items(index) for index in loops))

    def possible_items(self, loop_index: int) -> list[int]:
        loop = self.nodes[loop_index].node
        assert isinstance(loop, model.Loop)
        return [code for code, _ in self.item_source(loop)]

    def item_source(self, loop: model.Loop) -> list[tuple[int, model.Text | None]]:
        """All items a loop could run over, with their label texts, in natural order."""
        if loop.items is not None:
            return [(o.code, o.text) for o in loop.items]
        if loop.over is not None:
            question = self.questions.get(loop.over)
            options = question.options if question is not None else self.sample[loop.over].options
            return [(o.code, o.text) for o in options]
        return [(n, None) for n in range(1, (loop.max or 0) + 1)]

    def options_of(self, ref: NameRef) -> tuple[model.Option, ...]:
        """The options whose labels ``{x:label}`` and ``label(x)`` show."""
        if ref.sample is not None:
            return ref.sample.options
        assert ref.question is not None
        return ref.question.options


def value_kind(ref: NameRef) -> str | None:
    """``date`` for the values stored as ISO texts that expressions see as dates: date questions,
    date sample fields and computed values whose expression gives a date (``today() + 14``)."""
    if ref.sample is not None:
        return ref.sample.type
    question = ref.question
    if question is None:
        return None
    if question.type == "computed" and question.value_type == "date":
        return "date"
    return question.type


def to_expression_value(raw: Any, ref: NameRef) -> Any:
    """A stored JSON value as the expression language sees it (specials as states, dates)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        special = ex.SPECIALS.get(raw)
        if special is not None:
            return special
        kind = value_kind(ref)
        if kind == "date" and ref.part == "value":
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                return None
    return raw


@dataclass(slots=True)
class Call:
    """What one engine call shares across scopes: the interview, the clock and the quota gate."""

    flow: FlowIndex
    state: Any  # cati.questionnaires.state.State
    today: dt.date
    quota_open: Callable[[str, Scope], bool] | None = None


class Scope:
    """A place in an interview: evaluates expressions with the right loop item and answer keys."""

    __slots__ = ("_env", "call", "codes", "loops", "suffixes")

    def __init__(self, call: Call, loops: tuple[int, ...] = (), codes: tuple[int, ...] = ()) -> None:
        self.call = call
        self.loops = loops
        self.codes = codes
        self.suffixes = [suffix(codes[:depth]) for depth in range(len(codes) + 1)]
        self._env: ex.Env | None = None

    # -- names -------------------------------------------------------------------------------
    def key(self, node: model.Node, depth: int | None = None) -> str:
        """The answer key of ``node`` in this scope."""
        depth = len(self.codes) if depth is None else depth
        return key_base(node) + self.suffixes[depth]

    def resolve(self, name: str) -> tuple[NameRef, str | None] | None:
        """The reference of ``name`` and its answer key here (None for sample fields)."""
        ref = self.call.flow.names.get(name)
        if ref is None:
            return None
        if ref.sample is not None:
            return ref, None
        if ref.key is not None:
            return ref, ref.key
        if ref.depth > len(self.codes):
            return None  # a loop body variable named from outside its loop
        return ref, name + self.suffixes[ref.depth]

    def raw(self, name: str) -> Any:
        """The stored JSON value of ``name``; null when it is not on the route."""
        resolved = self.resolve(name)
        if resolved is None:
            return None
        key = resolved[1]
        state = self.call.state
        if key is None:
            return state.sample.get(name)
        if key not in state.on_route:
            return None
        return state.answers.get(key)

    def lookup(self, name: str) -> Any:
        resolved = self.resolve(name)
        if resolved is None:
            return None
        ref, key = resolved
        state = self.call.state
        if key is None:
            return to_expression_value(state.sample.get(name), ref)
        if ref.part == "grid" or key not in state.on_route:
            return None
        return to_expression_value(state.answers.get(key), ref)

    # -- loop item ---------------------------------------------------------------------------
    @property
    def loop_code(self) -> int | None:
        return self.codes[-1] if self.codes else None

    def loop_label(self, lang: str | None = None) -> str | None:
        """``$label``: the current item's text as the respondent hears it, the same as the
        ``{$label}`` fill (``{{``/``}}`` single braces, its own fills resolved outside this loop);
        None outside a loop."""
        if not self.codes:
            return None
        from .render import loop_label  # local: render imports this module

        return loop_label(self, lang)

    def inner(self, loop: int, code: int) -> Scope:
        return Scope(self.call, (*self.loops, loop), (*self.codes, code))

    # -- evaluation --------------------------------------------------------------------------
    def env(self) -> ex.Env:
        if self._env is None:
            state = self.call.state
            self._env = ex.Env(
                self.lookup,
                label=self.label_of,
                quota_open=self._quota_open,
                loop_code=self.loop_code,
                loop_label=self.loop_label() if self.codes else None,
                today=self.call.today,
                lang=state.lang,
            )
        return self._env

    def evaluate(self, expr: ex.Expr, rng: Any = None) -> Any:
        if rng is None:
            return expr.evaluate(self.env())
        state = self.call.state
        env = ex.Env(
            self.lookup,
            label=self.label_of,
            quota_open=self._quota_open,
            loop_code=self.loop_code,
            loop_label=self.loop_label() if self.codes else None,
            today=self.call.today,
            rng=rng,
            lang=state.lang,
        )
        return expr.evaluate(env)

    def _quota_open(self, quota_id: str) -> bool:
        check = self.call.quota_open
        return True if check is None else check(quota_id, self)

    def holds(self, expr: ex.Expr | None) -> bool:
        """Whether a condition holds; a missing condition always does."""
        return expr is None or ex.truthy(self.evaluate(expr))

    def label_of(self, name: str, value: Any) -> str | None:
        """``label(x)``: the option label(s) of ``value`` (the value of ``name``) in the
        interview language."""
        from .render import value_labels  # local: render imports this module

        resolved = self.resolve(name)
        if resolved is None:
            return None
        if isinstance(value, ex.Special):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        return value_labels(self, resolved[0], value, self.call.state.lang)
