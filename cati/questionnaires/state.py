"""The state of one interview: plain JSON-compatible data, stored by the server after every answer.

Why plain data: the server persists the state after each answer and must resume an interview in
another process (or after a crash) exactly where it was, so everything that influences the next
screen lives here and nothing lives in the :class:`~cati.questionnaires.engine.Engine`.

``State.to_dict()`` gives (all values JSON-compatible)::

    {
      "format": 1,
      "questionnaire": {"id": "ebike_abo_konzept", "version": 3},
      "seed": 42,                      # interview seed: every random decision derives from it
      "lang": "de",                    # current interview language (switchable)
      "interviewer": "Anna",           # first name for {$interviewer} and soft-check paradata
      "sample": {"produkt": "...", "kaufdatum": "2025-03-01"},     # preloads, read only
      "answers": {"S1": 34, "S3": [5], "K1": "DK", "K2_1": 2, "C1_3": "NA",
                  "D4": "12345", "X_date": "2025-03-01", "K3_t2b": 1},
                                       # by answer key: given answers AND computed values; kept
                                       # when they fall off the route (restored if it returns)
      "frozen": {"P5": 39},            # computed values that used random_*: drawn once
      "orders": {"S3": [2, 3, 1, 5], "blk": ["Q2", "Q1"]},   # stored shown orders (-> <key>_ord)
      "route": [["S1", "S1"], ["C1", "C1", ["C1_1", "C1_2"]], ...],
                                       # the route so far: [node id, answer key, extra keys
                                       # (grid rows shown, specify texts)]; questions, info,
                                       # computed and quota nodes in the order reached
      "cursor": 7,                     # index into route of the screen shown now
      "stack": [[-1, 5, null, null, 0], ...],   # where the walk continues after the route (opaque)
      "ending": {"disposition": "COMPLETE", "node": "end:4"} | null,
      "status": "active" | "complete" | "ended",
      "soft": [{"key": "D1", "check": 0, "at": ISO, "interviewer": "Anna",
                "inputs": {"D1": 9}}],  # every soft-check confirmation (paradata)
      "quota": {"alter_geschlecht": 2},  # assigned cell position (1-based) or null: no cell matched
      "started_at": ISO, "updated_at": ISO, "ended_at": ISO | null
    }

Specials are stored as ``"DK"``/``"REF"``/``"NA"`` (those three strings are therefore reserved:
a typed text answer equal to one of them *is* that special), multi answers as lists of ints in
option order, dates as ISO strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_FORMAT = 1

ACTIVE = "active"
COMPLETE = "complete"
ENDED = "ended"


def _copy_flat(mapping: dict[str, Any]) -> dict[str, Any]:
    """Copy of a mapping whose values are scalars or lists of scalars (answers, orders)."""
    return {k: (v.copy() if type(v) is list else v) for k, v in mapping.items()}


def _copy_route(route: list[list[Any]]) -> list[list[Any]]:
    return [[e[0], e[1]] if len(e) == 2 else [e[0], e[1], list(e[2])] for e in route]


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data (much faster than :func:`copy.deepcopy`)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(v) for v in value]
    return value


@dataclass(eq=False)
class State:
    """One interview's mutable state; the engine changes it in place.

    ``on_route`` (the answer keys of the route, for O(1) "is it on the route?") is derived from
    ``route`` and rebuilt by :meth:`from_dict`; it is not part of the stored form.
    """

    questionnaire_id: str
    version: int
    seed: int
    lang: str
    interviewer: str | None = None
    sample: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    frozen: dict[str, Any] = field(default_factory=dict)
    orders: dict[str, list[Any]] = field(default_factory=dict)
    route: list[list[Any]] = field(default_factory=list)
    cursor: int = -1
    stack: list[list[Any]] | None = None
    ending: dict[str, Any] | None = None
    status: str = ACTIVE
    soft: list[dict[str, Any]] = field(default_factory=list)
    quota: dict[str, int | None] = field(default_factory=dict)
    started_at: str | None = None
    updated_at: str | None = None
    ended_at: str | None = None
    on_route: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "questionnaire": {"id": self.questionnaire_id, "version": self.version},
            "seed": self.seed,
            "lang": self.lang,
            "interviewer": self.interviewer,
            "sample": copy_json(self.sample),
            "answers": _copy_flat(self.answers),
            "frozen": copy_json(self.frozen),
            "orders": _copy_flat(self.orders),
            "route": _copy_route(self.route),
            "cursor": self.cursor,
            "stack": copy_json(self.stack),
            "ending": copy_json(self.ending),
            "status": self.status,
            "soft": copy_json(self.soft),
            "quota": dict(self.quota),
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "ended_at": self.ended_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown interview state format {data.get('format')!r}")
        route = _copy_route(data["route"])
        state = cls(
            questionnaire_id=data["questionnaire"]["id"],
            version=data["questionnaire"]["version"],
            seed=data["seed"],
            lang=data["lang"],
            interviewer=data.get("interviewer"),
            sample=copy_json(data.get("sample", {})),
            answers=_copy_flat(data.get("answers", {})),
            frozen=copy_json(data.get("frozen", {})),
            orders=_copy_flat(data.get("orders", {})),
            route=route,
            cursor=data.get("cursor", -1),
            stack=copy_json(data.get("stack")),
            ending=copy_json(data.get("ending")),
            status=data.get("status", ACTIVE),
            soft=copy_json(data.get("soft", [])),
            quota=dict(data.get("quota", {})),
            started_at=data.get("started_at"),
            updated_at=data.get("updated_at"),
            ended_at=data.get("ended_at"),
        )
        for entry in route:
            state.add_route_keys(entry)
        return state

    # -- route bookkeeping -------------------------------------------------------------------
    def add_route_keys(self, entry: list[Any]) -> None:
        self.on_route.add(entry[1])
        if len(entry) > 2:
            self.on_route.update(entry[2])

    def append(self, entry: list[Any]) -> int:
        self.route.append(entry)
        self.add_route_keys(entry)
        return len(self.route) - 1

    def truncate(self, length: int) -> None:
        """Drop the route after its first ``length`` entries (their answers stay in ``answers``)."""
        for entry in self.route[length:]:
            self.on_route.discard(entry[1])
            if len(entry) > 2:
                self.on_route.difference_update(entry[2])
        del self.route[length:]
