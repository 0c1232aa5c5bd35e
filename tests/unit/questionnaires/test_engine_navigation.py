"""Engine: back navigation and route recomputation, soft checks, completion re-check, language,
and the state's JSON round trip."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Ended, Engine, EngineError
from cati.questionnaires.render import Screen
from cati.questionnaires.state import State

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2025, 3, 1, 10, 12, 30, tzinfo=dt.UTC)


def engine_for(flow: str, extra: str = "", languages: str = "[de]") -> Engine:
    text = f"""\
format: cati/1
id: t
version: 4
title: {{de: T, en: T}}
languages: {languages}
dispositions:
  COMPLETE: 1
  SO: {{code: 2, aapor: "4.70"}}
{textwrap.dedent(extra)}
flow:
{textwrap.indent(textwrap.dedent(flow), "  ")}
"""
    if languages == "[de]":
        text = text.replace("{de: T, en: T}", "T")
    return Engine(load_questionnaire(text, "t.yaml"))


HOUSEHOLD = """\
- {id: D1, type: numeric, min: 1, max: 20, text: "Personen",
   checks: [{assert: "D1 <= 8", severity: soft, message: "Mehr als 8 ({D1}) – bitte bestätigen."}]}
- {id: D2, type: numeric, min: 0, max: 19, show_if: "D1 > 1", text: "Kinder",
   checks: [{assert: "D2 <= D1 - 1", severity: hard, message: "{D2} Kinder, aber nur {=D1 - 1} weitere Personen."}]}
- {id: D3, type: text, text: "PLZ"}
"""


def screen_of(engine: Engine, state) -> Screen:
    screen = engine.screen(state)
    assert isinstance(screen, Screen), screen
    return screen


# -- explicit checks -------------------------------------------------------------------------
def test_hard_check_refuses_with_its_rendered_message():
    engine = engine_for(HOUSEHOLD)
    state = engine.start(1, {})
    engine.answer(state, "D1", 3)
    result = engine.answer(state, "D2", 5)
    assert not result.accepted
    assert [(m.key, m.check, m.severity, m.message) for m in result.errors] == [
        ("D2", 0, "hard", "5 Kinder, aber nur 2 weitere Personen.")
    ]
    assert "D2" not in state.answers
    assert screen_of(engine, state).key == "D2"


def test_soft_check_needs_confirmation_which_is_recorded_as_paradata():
    engine = engine_for(HOUSEHOLD)
    state = engine.start(1, {}, interviewer_name="Anna", now=NOW)
    result = engine.answer(state, "D1", 10, now=NOW)
    assert result.needs_confirmation
    assert [(m.check, m.message) for m in result.soft] == [(0, "Mehr als 8 (10) – bitte bestätigen.")]
    assert "D1" not in state.answers
    result = engine.answer(state, "D1", 10, confirm_soft={0}, now=NOW)
    assert result.accepted
    assert state.soft == [
        {"key": "D1", "check": 0, "at": "2025-03-01T10:00:00+00:00", "interviewer": "Anna", "inputs": {"D1": 10}}
    ]
    engine.answer(state, "D2", 1)
    engine.answer(state, "D3", "x", now=LATER)
    row = engine.export_row(state)
    assert row["n_soft_overrides"] == 1
    assert (row["duration_s"], row["end_ts"], row["q_version"], row["lang"]) == (
        750,
        "2025-03-01T10:12:30+00:00",
        4,
        "de",
    )


def test_check_is_skipped_when_a_referenced_value_is_special():
    engine = engine_for("""\
- {id: A, type: numeric, min: 0, max: 9, special: [DK], text: a}
- {id: B, type: numeric, min: 0, max: 9, text: b, checks: [{assert: "B >= A", severity: hard, message: kleiner}]}
""")
    state = engine.start(1, {})
    engine.answer(state, "A", "DK")
    assert engine.answer(state, "B", 0).accepted


# -- back navigation -------------------------------------------------------------------------
def test_back_shows_the_existing_answer_and_unchanged_answers_keep_the_route():
    engine = engine_for(HOUSEHOLD)
    state = engine.start(1, {})
    engine.answer(state, "D1", 3)
    engine.answer(state, "D2", 1)
    screen = engine.back(state)
    assert (screen.key, screen.existing) == ("D2", 1)
    screen = engine.back(state, "D1")
    assert (screen.key, screen.existing, screen.can_go_back) == ("D1", 3, False)
    route_before = list(state.route)
    engine.answer(state, "D1", 3)
    assert screen_of(engine, state).key == "D2"
    assert state.route == route_before
    assert engine.forward(state).accepted
    assert screen_of(engine, state).key == "D3"


def test_changed_answer_recomputes_route_keeps_answers_off_route_and_restores_them():
    engine = engine_for(HOUSEHOLD)
    state = engine.start(1, {})
    engine.answer(state, "D1", 3)
    engine.answer(state, "D2", 2)
    engine.answer(state, "D3", "12345")
    assert isinstance(engine.screen(state), Ended)

    engine.back(state, "D1")
    engine.answer(state, "D1", 1)  # D2 falls off the route
    assert screen_of(engine, state).key == "D3"
    assert state.answers["D2"] == 2  # kept ...
    assert engine.path(state) == ["D1", "D3"]
    engine.forward(state)
    assert isinstance(engine.screen(state), Ended)
    assert engine.export_row(state)["D2"] is None  # ... but system-missing

    engine.back(state, "D1")
    engine.answer(state, "D1", 4)  # the route returns: the kept answer is shown again
    screen = screen_of(engine, state)
    assert (screen.key, screen.existing) == ("D2", 2)
    engine.fast_forward(state)
    assert isinstance(engine.screen(state), Ended)
    assert engine.export_row(state)["D2"] == 2
    assert engine.path(state) == ["D1", "D2", "D3"]


def test_off_route_answers_read_as_null_in_expressions():
    engine = engine_for("""\
- {id: A, type: single, text: a, options: [{code: 1, de: ja}, {code: 2, de: nein}]}
- {id: B, type: numeric, min: 0, max: 9, show_if: "A == 1", text: b}
- {id: C, type: text, text: "B ist {B}", show_if: "answered(B) or A == 2"}
""")
    state = engine.start(1, {})
    engine.answer(state, "A", 1)
    engine.answer(state, "B", 5)
    assert screen_of(engine, state).text == "B ist 5"
    engine.back(state, "A")
    engine.answer(state, "A", 2)
    assert screen_of(engine, state).text == "B ist "


def test_soft_confirmation_lapses_when_its_inputs_change():
    engine = engine_for("""\
- {id: P1, type: numeric, min: 0, max: 500, text: p1}
- {id: P2, type: numeric, min: 0, max: 500, text: p2,
   checks: [{assert: "P1 <= P2", severity: soft, message: "nicht aufsteigend"}]}
- {id: E, type: text, text: e}
""")
    state = engine.start(1, {})
    engine.answer(state, "P1", 50)
    engine.answer(state, "P2", 40, confirm_soft={0})
    engine.answer(state, "E", "x")
    assert engine.export_row(state)["n_soft_overrides"] == 1

    engine.back(state, "P2")
    assert engine.forward(state).accepted  # same inputs: the confirmation still holds
    engine.back(state, "P1")
    engine.answer(state, "P1", 60)  # input changed: the confirmation lapses
    result = engine.forward(state)
    assert result.needs_confirmation
    assert engine.export_row(state)["n_soft_overrides"] == 0
    assert engine.forward(state, confirm_soft={0}).accepted
    assert len(state.soft) == 2
    engine.forward(state)
    assert engine.export_row(state)["n_soft_overrides"] == 1


def test_completion_recheck_sends_back_to_a_failing_question():
    engine = engine_for("""\
- {id: A, type: numeric, min: 0, max: 9, text: a, checks: [{assert: "A <= 5", severity: soft, message: "A > 5"}]}
- {id: B, type: numeric, min: 0, max: 9, text: b}
""")
    state = engine.start(1, {})
    engine.answer(state, "A", 7, confirm_soft={0})
    engine.answer(state, "B", 3)
    assert isinstance(engine.screen(state), Ended)
    state.soft.clear()  # e.g. a confirmation lost: completion must catch the unconfirmed check
    engine.back(state)
    result = engine.forward(state)  # B unchanged: the stored route ends, completion re-checks A
    assert result.accepted
    screen = result.screen
    assert isinstance(screen, Screen)
    assert (screen.key, [(m.check, m.severity) for m in screen.errors]) == ("A", [(0, "soft")])
    assert state.status == "active"
    assert engine.forward(state, confirm_soft={0}).accepted
    assert engine.forward(state).accepted
    assert isinstance(engine.screen(state), Ended)


def test_back_errors():
    engine = engine_for(HOUSEHOLD)
    state = engine.start(1, {})
    with pytest.raises(EngineError):
        engine.back(state)
    with pytest.raises(EngineError):
        engine.back(state, "D3")


def test_ended_interview_refuses_answers_until_going_back():
    engine = engine_for("""\
- {id: A, type: numeric, min: 0, max: 99, text: a}
- {end: SO, if: "A < 18"}
- {id: B, type: text, text: b}
""")
    state = engine.start(1, {})
    engine.answer(state, "A", 12)
    assert engine.screen(state).status == "ended"
    with pytest.raises(EngineError):
        engine.answer(state, "A", 30)
    assert engine.back(state).key == "A"
    assert state.status == "active"
    engine.answer(state, "A", 30)
    assert screen_of(engine, state).key == "B"
    assert state.ending is None


# -- language --------------------------------------------------------------------------------
def test_language_switch_mid_interview():
    engine = engine_for(
        """\
- {id: P, type: numeric, min: 0, max: 500, decimals: 2, special: [DK], text: {de: Preis, en: Price}}
- {id: D, type: date, text: {de: Datum, en: Date}}
- {id: M, type: multi, text: {de: "Preis {P}, Datum {D}", en: "Price {P}, date {D}"},
   options: [{code: 1, de: rot, en: red}, {code: 2, de: blau, en: blue}, {code: 3, de: grün, en: green}]}
- {info: i, text: {de: "Gewählt: {M:label}", en: "Chosen: {M:label}"}}
""",
        "special_codes: {DK: {code: 98, de: weiß nicht, en: don't know}}",
        languages="[de, en]",
    )
    state = engine.start(1, {}, lang="de")
    assert [s.label for s in screen_of(engine, state).specials] == ["weiß nicht"]
    screen = engine.set_language(state, "en")
    assert (screen.text, screen.specials[0].label) == ("Price", "don't know")
    engine.answer(state, "P", 19.99)
    engine.answer(state, "D", "2025-03-01")
    assert screen_of(engine, state).text == "Price 19.99, date 2025-03-01"
    assert engine.set_language(state, "de").text == "Preis 19,99, Datum 01.03.2025"
    engine.answer(state, "M", [1, 2, 3])
    assert screen_of(engine, state).text == "Gewählt: rot, blau und grün"
    assert engine.set_language(state, "en").text == "Chosen: red, blue and green"
    assert state.lang == "en"
    engine.forward(state)
    assert engine.export_row(state)["lang"] == "en"
    with pytest.raises(EngineError):
        engine.set_language(state, "fr")


# -- state -----------------------------------------------------------------------------------
LOOPY = """\
- {id: K1, type: multi, randomize: shuffle, text: k, options: [{code: 1, de: a}, {code: 2, de: b}, {code: 3, de: c}]}
- loop: L
  over: K1
  body:
    - {id: K2, type: single, randomize: rotate, text: "{$label}",
       options: [{code: 1, de: x}, {code: 2, de: y}, {code: 3, de: z}]}
    - {id: K3, type: numeric, min: 0, max: 9, show_if: "K2 == 1", text: "n"}
- {id: P, type: computed, expr: "random_int(1, 1000)"}
- {id: Z, type: text, text: "{P}"}
"""


def test_state_json_round_trip_mid_interview_resumes_identically():
    engine = engine_for(LOOPY)
    state = engine.start(99, {}, interviewer_name="Bo", now=NOW)
    engine.answer(state, "K1", [1, 3])
    engine.answer(state, "K2_1", 1)
    engine.back(state, "K1")  # resume in the middle of a back jump, too

    stored = json.loads(json.dumps(state.to_dict()))
    twin = State.from_dict(stored)
    assert twin.to_dict() == state.to_dict()
    assert twin.on_route == state.on_route

    fresh = engine_for(LOOPY)  # another process: a new engine for the same version
    steps = [("K1", [1, 3]), ("K2_1", 1), ("K3_1", 4), ("K2_3", 2), ("Z", "z")]
    for key, value in steps:
        a = engine.answer(state, key, value, now=LATER)
        b = fresh.answer(twin, key, value, now=LATER)
        assert a == b
        assert json.dumps(state.to_dict()) == json.dumps(twin.to_dict())
    assert engine.export_row(state) == fresh.export_row(twin)
    assert isinstance(engine.screen(twin), Ended)


def test_state_is_plain_json_with_the_documented_fields():
    engine = engine_for(LOOPY)
    state = engine.start(5, {}, now=NOW)
    engine.answer(state, "K1", "2")  # a multi given one code as text is still a list of ints
    data = state.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) >= {
        "format",
        "questionnaire",
        "seed",
        "lang",
        "interviewer",
        "sample",
        "answers",
        "frozen",
        "orders",
        "route",
        "cursor",
        "stack",
        "ending",
        "status",
        "soft",
        "quota",
        "started_at",
        "updated_at",
        "ended_at",
    }
    assert data["answers"] == {"K1": [2]}
    assert data["questionnaire"] == {"id": "t", "version": 4}
    assert [entry[1] for entry in data["route"]] == ["K1", "K2_2"]


def test_a_state_runs_only_on_its_questionnaire_version():
    state = engine_for(HOUSEHOLD).start(1, {})
    other = engine_for(HOUSEHOLD.replace("Personen", "Leute"), languages="[de]")
    assert other.screen(state).text == "Leute"  # same id and version: fine
    bumped = Engine(load_questionnaire(TEXT_V5, "t.yaml"))
    with pytest.raises(EngineError, match="version 4"):
        bumped.screen(state)


TEXT_V5 = """\
format: cati/1
id: t
version: 5
title: T
languages: [de]
dispositions: {COMPLETE: 1}
flow:
  - {id: D1, type: numeric, min: 1, max: 20, text: "Personen"}
"""


def test_from_dict_rejects_unknown_format():
    with pytest.raises(ValueError):
        State.from_dict({"format": 99})
