"""Property-based: whatever the interviewer does (valid, invalid or special answers, arbitrary
values, back jumps, language switches, storing and resuming the state), the engine never crashes,
keeps a consistent state and can always finish the interview with an ``end``."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cati.questionnaires.compiler import load_file
from cati.questionnaires.engine import Ended, Engine
from cati.questionnaires.render import Screen
from cati.questionnaires.simulate import RandomRespondent
from cati.questionnaires.state import State

from .helpers import EXAMPLES

ENGINES = {name: Engine(load_file(EXAMPLES / f"{name}.yaml")) for name in ("ebike_abo_konzept", "haustech_nachkauf")}

ACTIONS = ("valid", "valid", "valid", "invalid", "special", "arbitrary", "back", "back_to", "forward", "lang", "resume")

arbitrary_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["DK", "REF", "NA", "", " ", "2025-02-30", "12,5", "1e400", "²", "-¹", "٣"]),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.integers(-2, 200) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=12,
)


def check_invariants(engine: Engine, state: State) -> None:
    """What must hold after every step."""
    assert state.on_route == State.from_dict(state.to_dict()).on_route
    keys = [entry[1] for entry in state.route]
    assert len(keys) == len(set(keys)), "an answer key appears twice on the route"
    screen = engine.screen(state)
    if isinstance(screen, Screen):
        assert state.status == "active"
        assert state.route[state.cursor][1] == screen.key
    else:
        assert state.status in ("complete", "ended")
        assert screen.disposition in engine.questionnaire.dispositions
    json.dumps(state.to_dict())


def finish(engine: Engine, state: State, respondent: RandomRespondent) -> Ended:
    """Answer validly (confirming soft checks) until the interview ends."""
    for _ in range(20 * len(engine.flow.nodes) + 50):
        screen = engine.screen(state)
        if isinstance(screen, Ended):
            return screen
        if screen.type == "info":
            engine.forward(state)
            continue
        for attempt in range(80):
            value = respondent.valid(screen)
            if attempt > 60 and screen.specials:
                name = screen.specials[0].name
                value = {r.code: name for r in screen.rows} if screen.type == "grid" else name
            result = engine.answer(
                state, screen.key, value, others=respondent.others(screen, value), confirm_soft=range(10)
            )
            if result.accepted:
                break
        else:
            pytest.fail(f"no valid answer found for {screen.key}")
    pytest.fail("the interview did not end")


@pytest.mark.parametrize("name", sorted(ENGINES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_random_action_sequences_never_crash_and_always_reach_an_end(name, data, seed):
    engine = ENGINES[name]
    rng = random.Random(seed)
    respondent = RandomRespondent(engine, rng)
    state = engine.start(seed, respondent.sample(), interviewer_name="Kim")
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        screen = engine.screen(state)
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        if isinstance(screen, Ended):
            if action in ("back", "back_to") and state.cursor >= 0:
                engine.back(state)
            check_invariants(engine, state)
            continue
        if action == "valid" or screen.type == "info":
            value = respondent.valid(screen)
            engine.answer(state, screen.key, value, others=respondent.others(screen, value), confirm_soft={0})
        elif action == "invalid":
            result = engine.answer(state, screen.key, respondent.invalid(screen))
            assert not result.accepted or not screen.required or screen.type == "grid"
        elif action == "special":
            allowed = [s.name for s in screen.specials]
            special = data.draw(st.sampled_from(["DK", "REF", "NA"]), label="special")
            result = engine.answer(state, screen.key, special if screen.type != "grid" else {1: special})
            if screen.type != "grid" and special not in allowed:
                assert not result.accepted
        elif action == "arbitrary":
            engine.answer(state, screen.key, data.draw(arbitrary_values, label="value"))
        elif action == "back" and screen.can_go_back:
            assert engine.back(state).position < screen.position
        elif action == "back_to":
            visited = [e[1] for e in state.route if engine.flow.node(e[0]).is_screen]
            target = data.draw(st.sampled_from(visited), label="target")
            assert engine.back(state, target).key == target
        elif action == "forward":
            engine.forward(state)
        elif action == "lang":
            engine.set_language(state, data.draw(st.sampled_from(engine.questionnaire.languages), label="lang"))
        elif action == "resume":
            state = State.from_dict(json.loads(json.dumps(state.to_dict())))
        check_invariants(engine, state)
    ended = finish(engine, state, respondent)
    assert ended.disposition in engine.questionnaire.dispositions
    row = engine.export_row(state)
    assert row["disposition"] == ended.code
    json.dumps(row)
