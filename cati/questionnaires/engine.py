"""The interview engine: next screen, answer validation, routing, back navigation, completion.

Usage::

    engine = Engine(questionnaire)                 # once per questionnaire version; stateless
    state = engine.start(seed=123, sample={...}, lang="de", interviewer_name="Anna")
    screen = engine.screen(state)                  # Screen, or Ended
    result = engine.answer(state, screen.key, 3)   # Result: accepted -> result.screen is the next
    engine.back(state)                             # or engine.back(state, to_key="S2")
    row = engine.export_row(state)                 # every codebook variable's value

Why it is built this way:

* The state (:class:`~cati.questionnaires.state.State`) is plain data the server stores after
  every answer; the engine keeps nothing per interview, so one engine serves all interviews of
  a version and an interview resumes exactly in any process.
* The route is kept incrementally: ``state.route`` lists the nodes reached so far and
  ``state.stack`` says where the walk continues. Answering at the end of the route walks on over
  the skipped nodes only, so a step costs O(nodes skipped), however long the interview is.
  Expressions only refer to *earlier* variables, so a changed answer can only change the route
  after it: the route is cut behind the changed question and walked again from there (Blaise's
  "recompute the route"), and nothing before it is touched.
* Answers that fall off the route stay in ``state.answers`` (restored when the route returns) but
  read as null in expressions and export as system-missing, because only keys on the route
  count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import expressions as ex
from . import model
from .randomize import arrange, rng_for
from .render import Screen, build_screen, render
from .route import ROOT, Call, FlowIndex, NodeInfo, Scope, key_base, parse_codes, row_key
from .state import ACTIVE, COMPLETE, ENDED, State
from .validate import AnswerValidator, CheckMessage, fingerprint, run_checks, special_name

COMPLETE_DISPOSITION = "COMPLETE"


class EngineError(ValueError):
    """The caller asked for something the interview cannot do (wrong key, ended, unknown language)."""


class QuotaGate(Protocol):
    """Decides at a ``quota`` node whether the interview may go on.

    ``assign`` is called with the first matching cell (``None`` when no cell matches) and returns
    True when the interview is admitted. The server's implementation reserves a place in the
    cell; when a changed answer sends the walk through the quota node again it is called again
    and should move the reservation. ``is_open`` answers the same question without reserving
    anything (for ``quota_open()`` in expressions).
    """

    def assign(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool: ...

    def is_open(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool: ...


class OfflineQuotaGate:
    """Every cell open unless listed in ``full`` as ``(quota id, cell id)``.

    Cells without a target and ``counter`` quotas never close. No matching cell admits the
    interview (it is simply not counted in this quota).
    """

    def __init__(self, full: Iterable[tuple[str, str]] = ()) -> None:
        self.full = set(full)
        self.assignments: list[tuple[str, str | None]] = []

    def assign(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool:
        self.assignments.append((quota.id, cell.id if cell is not None else None))
        return self.is_open(quota, cell, state)

    def is_open(self, quota: model.Quota, cell: model.QuotaCell | None, state: State) -> bool:
        if cell is None or quota.mode == "counter" or cell.target is None:
            return True
        return (quota.id, cell.id) not in self.full


@dataclass(frozen=True, slots=True)
class Ended:
    """The interview is over: ``status`` is ``complete`` or ``ended`` (screened out, quota full...)."""

    status: str
    disposition: str
    code: int
    text: str | None = None
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of :meth:`Engine.answer` / :meth:`Engine.forward`.

    ``accepted``: the answer was stored and ``screen`` is the next screen (or :class:`Ended`).
    Otherwise ``screen`` is the same question again with ``errors`` (hard: the interviewer must
    change the answer) and/or ``soft`` (confirm by answering again with their ``check`` indices in
    ``confirm_soft``).
    """

    accepted: bool
    screen: Screen | Ended
    errors: tuple[CheckMessage, ...] = ()
    soft: tuple[CheckMessage, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        return not self.accepted and not self.errors and bool(self.soft)


_MISSING = object()


def _now(now: dt.datetime | None) -> dt.datetime:
    """``now``, or the current time in the server's local time zone: ``today()`` in expressions is
    the date of this moment in its own time zone, so near midnight it is the local date."""
    return now if now is not None else dt.datetime.now().astimezone()


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def to_json_value(value: Any) -> Any:
    """An expression result in stored form (specials by name, dates ISO, lists as lists)."""
    if isinstance(value, ex.Special):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _json_sample(sample: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_json_value(value) for name, value in sample.items()}


class Engine:
    """Runs interviews of one compiled questionnaire; holds only per-version precomputed data."""

    def __init__(self, questionnaire: model.Questionnaire, gate: QuotaGate | None = None) -> None:
        self.questionnaire = questionnaire
        self.flow = FlowIndex(questionnaire)
        self.gate: QuotaGate = gate if gate is not None else OfflineQuotaGate()
        self._codebook: list[model.ExportVariable] | None = None

    # -- public API --------------------------------------------------------------------------
    def start(
        self,
        seed: int,
        sample: Mapping[str, Any] | None = None,
        lang: str | None = None,
        interviewer_name: str | None = None,
        now: dt.datetime | None = None,
        gate: QuotaGate | None = None,
    ) -> State:
        """A new interview, walked to its first screen (or straight to its end)."""
        lang = lang or self.questionnaire.default_language
        self._check_language(lang)
        moment = _now(now)
        state = State(
            questionnaire_id=self.questionnaire.id,
            version=self.questionnaire.version,
            seed=int(seed),
            lang=lang,
            interviewer=interviewer_name,
            sample=_json_sample(sample or {}),
            stack=[[ROOT, 0, None, None, 0]],
            started_at=_iso(moment),
            updated_at=_iso(moment),
        )
        _Walk(self, state, moment, gate).advance()
        return state

    def screen(self, state: State, *, now: dt.datetime | None = None) -> Screen | Ended:
        """The current screen (pure: does not change the state); ``now`` dates ``today()``."""
        return _Walk(self, state, now, None).screen()

    def answer(
        self,
        state: State,
        key: str,
        value: Any,
        *,
        others: Mapping[str, Any] | None = None,
        confirm_soft: Iterable[int] = (),
        now: dt.datetime | None = None,
        gate: QuotaGate | None = None,
        interviewer: str | None = None,
    ) -> Result:
        """Validate and store the answer to the current screen ``key``, then move on.

        ``value``: a code (single), list of codes (multi), number, text, ISO date, a special
        (``"DK"``/``"REF"``/``"NA"``, for a multi also ``["DK"]``), for a grid a mapping
        ``{row code or row key: value}``. ``others``: specify texts by their answer key.
        ``confirm_soft``: indices of soft checks the interviewer confirmed.
        """
        walk = _Walk(self, state, _now(now), gate)
        if interviewer is not None:
            state.interviewer = interviewer
        return walk.accept(key, value, others or {}, frozenset(confirm_soft))

    def forward(
        self,
        state: State,
        *,
        confirm_soft: Iterable[int] = (),
        now: dt.datetime | None = None,
        gate: QuotaGate | None = None,
    ) -> Result:
        """Go on from the current screen keeping its answer (info screens; revisited questions)."""
        walk = _Walk(self, state, _now(now), gate)
        entry = walk.current_entry()
        info = self.flow.node(entry[0])
        if isinstance(info.node, model.Info):
            walk.move_on()
            return Result(True, walk.screen())
        return walk.accept(entry[1], walk.existing_input(info.node, entry), {}, frozenset(confirm_soft))

    def fast_forward(
        self, state: State, *, now: dt.datetime | None = None, gate: QuotaGate | None = None
    ) -> Screen | Ended:
        """Skip forward over screens whose stored answers still pass, to the first open question
        (Blaise's "End" key after a back jump). Info screens are passed too."""
        for _ in range(len(state.route) + 100 * len(self.flow.nodes) + 100):  # bounded, just in case
            screen = self.screen(state)
            if isinstance(screen, Ended):
                return screen
            if screen.type != "info" and screen.existing is None:
                return screen
            result = self.forward(state, now=now, gate=gate)
            if not result.accepted:
                return result.screen
            if state.cursor == screen.position and state.status == ACTIVE:
                return result.screen  # completion re-check sent us back here
        return self.screen(state)

    def back(self, state: State, to_key: str | None = None, *, now: dt.datetime | None = None) -> Screen:
        """Return to the previous screen, or to the visited screen ``to_key``; nothing changes
        until an answer is changed (an ended interview becomes active again)."""
        walk = _Walk(self, state, _now(now), None)
        target = walk.find_back(to_key)
        state.cursor = target
        if state.status != ACTIVE:
            state.status = ACTIVE
            state.ended_at = None
        state.updated_at = _iso(walk.now)
        screen = walk.screen()
        assert isinstance(screen, Screen)
        return screen

    def set_language(self, state: State, lang: str) -> Screen | Ended:
        """Switch the interview language (stored in the state and exported as ``lang``)."""
        self._check_language(lang)
        state.lang = lang
        return self.screen(state)

    def path(self, state: State) -> list[str]:
        """The questions on the route, in order (grids once, loop iterations by generated name)."""
        nodes = self.flow
        return [
            entry[1]
            for entry in state.route
            if isinstance(node := nodes.node(entry[0]).node, model.Question) and node.type != "computed"
        ]

    def export_row(self, state: State, paradata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every codebook variable's value, JSON-compatible, in codebook order.

        Off-route variables are null (system-missing); specials become their export codes (the
        question's own, widened ones for large numeric ranges); multi options are 0/1 (null when
        the question is not answered); orders are comma-separated codes or ids; ``quota_<id>`` is
        the 1-based cell. ``paradata`` supplies what only the server knows (``resp_id``,
        ``interviewer_id``) and overrides any computed paradata value.
        """
        return _Export(self, state, paradata or {}).row()

    def codebook(self) -> list[model.ExportVariable]:
        if self._codebook is None:
            from .codebook import build_codebook

            self._codebook = build_codebook(self.questionnaire)
        return self._codebook

    # -- helpers -----------------------------------------------------------------------------
    def _check_language(self, lang: str) -> None:
        if lang not in self.questionnaire.languages:
            raise EngineError(
                f"unknown language {lang!r}; the questionnaire has {', '.join(self.questionnaire.languages)}"
            )

    def disposition_code(self, name: str) -> int:
        disposition = self.questionnaire.dispositions.get(name)
        return disposition.code if disposition is not None else 0


@dataclass
class _Walk:
    """One engine call on one interview: walks the flow and applies answers."""

    engine: Engine
    state: State
    moment: dt.datetime | None
    gate_override: QuotaGate | None
    errors: tuple[CheckMessage, ...] = field(default=())

    def __post_init__(self) -> None:
        questionnaire = self.engine.questionnaire
        if (self.state.questionnaire_id, self.state.version) != (questionnaire.id, questionnaire.version):
            raise EngineError(
                f"this interview runs on {self.state.questionnaire_id} version {self.state.version}, "
                f"not on {questionnaire.id} version {questionnaire.version}"
            )
        self.flow = self.engine.flow
        gate = self.gate_override if self.gate_override is not None else self.engine.gate
        self.gate = gate
        today = _now(self.moment).date()
        self.call = Call(self.flow, self.state, today, self._quota_open)

    @property
    def now(self) -> dt.datetime:
        if self.moment is None:
            self.moment = _now(None)
        return self.moment

    def _quota_open(self, quota_id: str, scope: Scope) -> bool:
        """``quota_open(q)``: whether this respondent's cell of quota ``q`` (the first cell whose
        condition holds here, or the cell named as ``q.cell``) still admits interviews."""
        quota_name, _, cell_name = quota_id.partition(".")
        quota = self.flow.quotas.get(quota_name)
        if quota is None:
            return True
        if cell_name:
            cell = next((c for c in quota.cells if c.id == cell_name), None)
        else:
            cell = next((c for c in quota.cells if scope.holds(c.condition)), None)
        return bool(self.gate.is_open(quota, cell, self.state))

    # -- scopes ------------------------------------------------------------------------------
    def stack_scope(self) -> Scope:
        loops = []
        codes = []
        for frame in self.state.stack or ():
            items = frame[3]
            if items is not None:
                loops.append(frame[0])
                codes.append(items[frame[4]])
        return Scope(self.call, tuple(loops), tuple(codes))

    def entry_scope(self, entry: list[Any]) -> tuple[NodeInfo, Scope]:
        info = self.flow.node(entry[0])
        codes = parse_codes(entry[1], key_base(info.node), len(info.loops))
        return info, Scope(self.call, info.loops, codes)

    def current_entry(self) -> list[Any]:
        state = self.state
        if state.status != ACTIVE:
            raise EngineError("the interview has ended; go back first to change an answer")
        if not 0 <= state.cursor < len(state.route):
            raise EngineError("the interview has no current screen")
        return state.route[state.cursor]

    # -- screens -----------------------------------------------------------------------------
    def screen(self) -> Screen | Ended:
        state = self.state
        if state.status != ACTIVE:
            return self.ended()
        entry = self.current_entry()
        info, scope = self.entry_scope(entry)
        node = info.node
        assert isinstance(node, model.Question | model.Info)
        extras = entry[2] if len(entry) > 2 else ()
        return build_screen(
            node, scope, entry[1], extras, state.cursor, self.previous_screen(state.cursor) is not None, self.errors
        )

    def ended(self) -> Ended:
        ending = self.state.ending or {"disposition": COMPLETE_DISPOSITION, "node": None}
        name = ending["disposition"]
        text = None
        node_id = ending.get("node")
        if node_id is not None:
            node = self.flow.node(node_id).node
            if isinstance(node, model.End) and node.text is not None:
                text = render(node.text, Scope(self.call))
        return Ended(self.state.status, name, self.engine.disposition_code(name), text, node_id)

    def is_screen(self, entry: list[Any]) -> bool:
        return self.flow.node(entry[0]).is_screen

    def previous_screen(self, index: int) -> int | None:
        route = self.state.route
        j = index - 1
        while j >= 0 and not self.is_screen(route[j]):
            j -= 1
        return j if j >= 0 else None

    def find_back(self, to_key: str | None) -> int:
        state = self.state
        if to_key is None:
            if state.status != ACTIVE:
                if state.cursor < 0:
                    raise EngineError("there is no question to go back to")
                return state.cursor
            target = self.previous_screen(state.cursor)
            if target is None:
                raise EngineError("already at the first screen")
            return target
        for j, entry in enumerate(state.route):
            if entry[1] == to_key and self.is_screen(entry):
                return j
        raise EngineError(f"{to_key} is not a visited screen on the current route")

    def existing_input(self, node: model.Question, entry: list[Any]) -> Any:
        answers = self.state.answers
        if node.type == "grid":
            extras = entry[2] if len(entry) > 2 else ()
            return {k: answers[k] for k in extras if k in answers}
        return answers.get(entry[1])

    # -- answering ---------------------------------------------------------------------------
    def accept(self, key: str, value: Any, others: Mapping[str, Any], confirm: frozenset[int]) -> Result:
        state = self.state
        entry = self.current_entry()
        if entry[1] != key:
            raise EngineError(f"{key} is not the current screen (that is {entry[1]})")
        info, scope = self.entry_scope(entry)
        question = info.node
        if not isinstance(question, model.Question):
            self.move_on()
            return Result(True, self.screen())
        rows = self.shown_rows(question, entry)
        validator = AnswerValidator(question, scope, key)
        values = validator.validate(value, others, rows)
        if validator.messages:
            return Result(False, self.screen(), tuple(validator.messages))
        answers = state.answers
        old = {k: answers.get(k, _MISSING) for k in values}
        self._write(values)
        hard, pending, confirmed = run_checks(question, scope, key, confirm)
        if hard or pending:
            self._write({k: (None if v is _MISSING else v) for k, v in old.items()})
            return Result(False, self.screen(), tuple(hard), tuple(pending))
        for check in confirmed:
            state.soft.append(
                {
                    "key": key,
                    "check": check.index,
                    "at": _iso(self.now),
                    "interviewer": state.interviewer,
                    "inputs": fingerprint(check, scope),
                }
            )
        state.updated_at = _iso(self.now)
        changed = any((None if old[k] is _MISSING else old[k]) != values[k] for k in values)
        if changed and (state.cursor < len(state.route) - 1 or state.ending is not None):
            self.reroute_after(state.cursor)
        self.move_on()
        return Result(True, self.screen())

    def _write(self, values: Mapping[str, Any]) -> None:
        answers = self.state.answers
        for k, v in values.items():
            if v is None:
                answers.pop(k, None)
            else:
                answers[k] = v

    def shown_rows(self, question: model.Question, entry: list[Any]) -> tuple[model.Option, ...]:
        if question.type != "grid":
            return ()
        by_key = {row_key(question, entry[1], row.code): row for row in question.rows}
        extras = entry[2] if len(entry) > 2 else ()
        return tuple(by_key[k] for k in extras if k in by_key)

    def reroute_after(self, index: int) -> None:
        """Cut the route behind ``index`` (a changed answer) and resume the walk right after it."""
        state = self.state
        entry = state.route[index]
        state.truncate(index + 1)
        state.ending = None
        state.stack = self.stack_after(entry)

    def stack_after(self, entry: list[Any]) -> list[list[Any]]:
        """The walk position just after ``entry``, rebuilt from the node's place in the tree."""
        flow = self.flow
        info = flow.node(entry[0])
        codes = parse_codes(entry[1], key_base(info.node), len(info.loops))
        chain = []
        index = info.index
        while index != ROOT:
            chain.append(index)
            index = flow.nodes[index].parent
        chain.reverse()
        frames: list[list[Any]] = []
        loops: tuple[int, ...] = ()
        loop_codes: tuple[int, ...] = ()
        for child in chain:
            child_info = flow.nodes[child]
            container = child_info.parent
            if container == ROOT:
                frames.append([ROOT, child_info.position + 1, None, None, 0])
                continue
            parent = flow.nodes[container].node
            outer = Scope(self.call, loops, loop_codes)
            if isinstance(parent, model.Loop):
                items = self.loop_items(container, parent, outer)
                code = codes[len(loop_codes)]
                if code not in items:  # cannot happen: items depend on earlier answers only
                    raise EngineError(f"loop {parent.id} no longer has item {code}")
                frames.append([container, child_info.position + 1, None, items, items.index(code)])
                loops = (*loops, container)
                loop_codes = (*loop_codes, code)
            elif isinstance(parent, model.Block) and parent.randomize:
                order = self.block_order(container, parent, outer)
                frames.append([container, order.index(child) + 1, order, None, 0])
            else:
                frames.append([container, child_info.position + 1, None, None, 0])
        return frames

    def move_on(self) -> None:
        """To the next screen: the next one already on the route, or walk on."""
        state = self.state
        route = state.route
        j = state.cursor + 1
        while j < len(route) and not self.is_screen(route[j]):
            j += 1
        if j < len(route):
            state.cursor = j
            return
        if state.ending is not None:
            self.conclude()
            return
        self.advance()

    # -- walking -----------------------------------------------------------------------------
    def advance(self) -> None:
        """Walk from ``state.stack`` to the next screen or to the end of the interview."""
        state = self.state
        flow = self.flow
        stack = state.stack
        if stack is None:
            stack = state.stack = []
        scope = self.stack_scope()
        while True:
            if not stack:
                self.finish(COMPLETE_DISPOSITION, None)
                return
            frame = stack[-1]
            k = frame[1]
            children = frame[2] if frame[2] is not None else flow.children(frame[0])
            if k >= len(children):
                items = frame[3]
                if items is not None and frame[4] + 1 < len(items):
                    frame[1] = 0
                    frame[4] += 1
                else:
                    stack.pop()
                if items is not None:
                    scope = self.stack_scope()
                continue
            frame[1] = k + 1
            info = flow.nodes[children[k]]
            node = info.node
            if node.show_if is not None and not scope.holds(node.show_if):
                continue
            if isinstance(node, model.Question):
                key = scope.key(node)
                if node.type == "computed":
                    self.compute(node, scope, key)
                    state.append([node.id, key])
                    continue
                self.enter_question(node, scope, key)
                return
            if isinstance(node, model.Info):
                state.cursor = state.append([node.id, scope.key(node)])
                return
            if isinstance(node, model.Block):
                if node.randomize:
                    order = self.block_order(info.index, node, scope)
                    state.append([node.id, scope.key(node)])
                    stack.append([info.index, 0, order, None, 0])
                else:
                    stack.append([info.index, 0, None, None, 0])
            elif isinstance(node, model.Loop):
                items = self.loop_items(info.index, node, scope)
                if items:
                    stack.append([info.index, 0, None, items, 0])
                    scope = self.stack_scope()
            elif isinstance(node, model.QuotaCheckpoint) and not self.pass_quota(node, scope):
                return
            elif isinstance(node, model.End) and scope.holds(node.condition):
                self.finish(node.disposition, node.id)
                return

    def enter_question(self, question: model.Question, scope: Scope, key: str) -> None:
        state = self.state
        seed = state.seed
        orders = state.orders
        if question.type == "grid":
            if question.randomize_rows and key not in orders:
                codes = [row.code for row in question.rows]
                fixed = [row.fixed for row in question.rows]
                orders[key] = arrange(codes, fixed, question.randomize_rows, rng_for(seed, key))
            options_key = key + "/options"
            if question.randomize and options_key not in orders:
                codes = [o.code for o in question.options]
                fixed = [o.fixed for o in question.options]
                orders[options_key] = arrange(codes, fixed, question.randomize, rng_for(seed, options_key))
        elif question.randomize and question.options and key not in orders:
            codes = [o.code for o in question.options]
            fixed = [o.fixed for o in question.options]
            orders[key] = arrange(codes, fixed, question.randomize, rng_for(seed, key))
        entry: list[Any] = [question.id, key]
        extras: list[str] = []
        if question.type == "grid":
            rows = {row.code: row for row in question.rows}
            order = orders.get(key) or list(rows)
            extras = [row_key(question, key, c) for c in order if c in rows and scope.holds(rows[c].show_if)]
        tail = key[len(question.id) :]
        extras.extend(o.other.id + tail for o in question.options if o.other is not None)
        if extras:
            entry.append(extras)
        state.cursor = state.append(entry)

    def block_order(self, index: int, block: model.Block, scope: Scope) -> list[int]:
        """The frozen order of a randomised block's children (as node indices)."""
        key = scope.key(block)
        children = self.flow.nodes[index].children
        by_id = {self.flow.nodes[c].node.id: c for c in children}
        ids = self.state.orders.get(key)
        if ids is None or set(ids) != set(by_id):
            natural = list(by_id)
            ids = arrange(natural, [False] * len(natural), block.randomize, rng_for(self.state.seed, key))
            self.state.orders[key] = ids
        return [by_id[i] for i in ids]

    def loop_items(self, index: int, loop: model.Loop, scope: Scope) -> list[int]:
        if loop.items is not None:
            candidates = [o.code for o in loop.items]
        elif loop.over is not None:
            raw = scope.raw(loop.over)
            if isinstance(raw, list):
                candidates = [c for c in raw if isinstance(c, int)]
            elif isinstance(raw, int) and not isinstance(raw, bool):
                candidates = [raw]
            else:
                candidates = []
        else:
            count = scope.evaluate(loop.count) if loop.count is not None else 0
            n = int(count) if isinstance(count, int | float) and not isinstance(count, bool) else 0
            if loop.max is not None:
                n = min(n, loop.max)
            candidates = list(range(1, max(n, 0) + 1))
        if loop.where is None:
            return candidates
        return [code for code in candidates if scope.inner(index, code).holds(loop.where)]

    def compute(self, question: model.Question, scope: Scope, key: str) -> None:
        state = self.state
        value: Any = None
        if question.expr is not None and scope.holds(question.when):
            if question.expr.is_random:
                if key in state.frozen:
                    value = state.frozen[key]
                else:
                    value = to_json_value(scope.evaluate(question.expr, rng_for(state.seed, key)))
                    if value is not None:
                        state.frozen[key] = value
            else:
                value = to_json_value(scope.evaluate(question.expr))
        if value is None:
            state.answers.pop(key, None)
        else:
            state.answers[key] = value

    def pass_quota(self, node: model.QuotaCheckpoint, scope: Scope) -> bool:
        """Assign the first matching cell; False when the interview ended because it is full."""
        state = self.state
        quota = self.flow.quotas.get(node.quota)
        if quota is None:
            return True
        position = None
        cell = None
        for n, candidate in enumerate(quota.cells, start=1):
            if scope.holds(candidate.condition):
                position, cell = n, candidate
                break
        state.quota[quota.id] = position
        state.append([node.id, scope.key(node)])
        if self.gate.assign(quota, cell, state):
            return True
        self.finish(quota.on_full, node.id)
        return False

    # -- ending ------------------------------------------------------------------------------
    def finish(self, disposition: str, node_id: str | None) -> None:
        state = self.state
        state.ending = {"disposition": disposition, "node": node_id}
        state.stack = []
        self.conclude()

    def conclude(self) -> None:
        """Apply the pending ending; a complete interview first re-runs every check on the route."""
        state = self.state
        assert state.ending is not None
        name = state.ending["disposition"]
        if name == COMPLETE_DISPOSITION:
            failure = self.completion_failure()
            if failure is not None:
                index, messages = failure
                state.cursor = index
                self.errors = messages
                return
        state.status = COMPLETE if name == COMPLETE_DISPOSITION else ENDED
        state.ended_at = _iso(self.now)
        state.updated_at = state.ended_at

    def completion_failure(self) -> tuple[int, tuple[CheckMessage, ...]] | None:
        """The first question on the route whose stored answer no longer passes its checks."""
        state = self.state
        for index, entry in enumerate(state.route):
            info = self.flow.node(entry[0])
            question = info.node
            if not isinstance(question, model.Question) or question.type == "computed":
                continue
            _, scope = self.entry_scope(entry)
            validator = AnswerValidator(question, scope, entry[1])
            value = self.existing_input(question, entry)
            others = {k: state.answers[k] for k in entry[2] if k in state.answers} if len(entry) > 2 else {}
            validator.validate(value, others, self.shown_rows(question, entry))
            if validator.messages:
                return index, tuple(validator.messages)
            hard, pending, _ = run_checks(question, scope, entry[1], frozenset())
            if hard or pending:
                return index, tuple(hard + pending)
        return None


class _Export:
    """Turns the stored state into one data row (see :meth:`Engine.export_row`)."""

    def __init__(self, engine: Engine, state: State, paradata: Mapping[str, Any]) -> None:
        self.engine = engine
        self.state = state
        self.paradata = paradata
        self.questionnaire = engine.questionnaire

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        kinds = {
            "value": self.value,
            "dichotomy": self.dichotomy,
            "order": self.order,
            "quota": self.quota,
            "paradata": self.paradata_value,
        }
        for variable in self.engine.codebook():
            row[variable.name] = kinds[variable.kind](variable)
        return row

    def answered(self, key: str | None) -> Any:
        if key is None or key not in self.state.on_route:
            return None
        return self.state.answers.get(key)

    def special_code(self, variable: model.ExportVariable, name: str) -> int:
        question = self.engine.flow.questions.get(variable.question_id or "")
        if question is not None and name in question.special_codes:
            return question.special_codes[name]
        return self.questionnaire.special_defaults.get(name, model.DEFAULT_SPECIAL_CODES[name])

    def value(self, variable: model.ExportVariable) -> Any:
        if variable.question_id is None and variable.answer_key in self.engine.flow.sample:
            return self.state.sample.get(variable.answer_key)  # preloaded sample field
        raw = self.answered(variable.answer_key)
        if isinstance(raw, str) and raw in model.SPECIAL_NAMES:
            question = self.engine.flow.questions.get(variable.question_id or "")
            if question is not None and question.type == "computed":
                # a computed variable declares no special codes: a copied DK would be a valid 98
                # (or a date in 1582); only a text keeps the name
                return raw if variable.spss_type == "string" else None
            return self.special_code(variable, raw)
        if isinstance(raw, str | list) and variable.spss_type == "numeric":
            # only a computed value of mixed type gets here (iif(c, 1, 'x') is exported numeric):
            # system-missing, as a text in a numeric column would stop the whole export
            return None
        if isinstance(raw, list):
            return ",".join(str(v) for v in raw)
        return raw

    def dichotomy(self, variable: model.ExportVariable) -> int | None:
        raw = self.answered(variable.answer_key)
        if raw is None:
            return None
        if variable.special is not None:
            return int(raw == variable.special)
        return int(isinstance(raw, list) and variable.code in raw)

    def order(self, variable: model.ExportVariable) -> str | None:
        key = variable.answer_key
        if key is None or key not in self.state.on_route:
            return None
        order = self.state.orders.get(key)
        return None if order is None else ",".join(str(item) for item in order if model.named(item))

    def quota(self, variable: model.ExportVariable) -> int | None:
        quota_id = variable.answer_key or variable.name.removeprefix("quota_")
        if quota_id.startswith("quota_"):
            quota_id = quota_id.removeprefix("quota_")
        if f"quota_{quota_id}" not in self.state.on_route:
            return None
        return self.state.quota.get(quota_id)

    def paradata_value(self, variable: model.ExportVariable) -> Any:
        name = variable.name
        if name in self.paradata:
            return self.paradata[name]
        state = self.state
        ended = state.status != ACTIVE
        if name == "disposition":
            return self.engine.disposition_code(state.ending["disposition"]) if ended and state.ending else None
        if name == "q_version":
            return self.questionnaire.version
        if name == "lang":
            return state.lang
        if name == "start_ts":
            return state.started_at
        if name == "end_ts":
            return state.ended_at if ended else None
        if name == "duration_s":
            if not ended or not state.started_at or not state.ended_at:
                return None
            start = dt.datetime.fromisoformat(state.started_at)
            end = dt.datetime.fromisoformat(state.ended_at)
            return int((end - start).total_seconds())
        if name == "n_soft_overrides":
            return self.soft_overrides()
        return None

    def soft_overrides(self) -> int:
        """Soft-check confirmations still in force: on the route, inputs unchanged."""
        state = self.state
        latest = {(record["key"], record["check"]): record for record in state.soft}
        if not latest:
            return 0
        walk = _Walk(self.engine, state, None, None)
        entries = {entry[1]: entry for entry in state.route}
        count = 0
        for (key, index), record in latest.items():
            entry = entries.get(key)
            if entry is None:
                continue
            info, scope = walk.entry_scope(entry)
            question = info.node
            checks = [c for c in getattr(question, "checks", ()) if c.index == index]
            if checks and record["inputs"] == fingerprint(checks[0], scope):
                count += 1
        return count


__all__ = [
    "Ended",
    "Engine",
    "EngineError",
    "OfflineQuotaGate",
    "QuotaGate",
    "Result",
    "Screen",
    "State",
    "special_name",
]
