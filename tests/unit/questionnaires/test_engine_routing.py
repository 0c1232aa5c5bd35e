"""Engine: routing (show_if everywhere, goto, blocks, loops, quotas, randomisation)."""

from __future__ import annotations

import datetime as dt
import textwrap

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Ended, Engine, OfflineQuotaGate
from cati.questionnaires.render import Screen

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)
YES_NO = "[{code: 1, de: ja}, {code: 2, de: nein}]"


def engine_for(flow: str, extra: str = "") -> Engine:
    text = f"""\
format: cati/1
id: t
version: 1
title: T
languages: [de]
dispositions:
  COMPLETE: 1
  SO: {{code: 2, aapor: "4.70"}}
  QF: {{code: 3, aapor: "4.80"}}
{textwrap.dedent(extra)}
flow:
{textwrap.indent(textwrap.dedent(flow), "  ")}
"""
    return Engine(load_questionnaire(text, "t.yaml"))


def run(engine: Engine, answers: dict, seed: int = 1, **kw):
    """Answer screens from ``answers`` until the interview ends; returns (state, path)."""
    state = engine.start(seed, kw.pop("sample", {}), now=NOW, **kw)
    while isinstance(screen := engine.screen(state), Screen):
        if screen.type == "info":
            engine.forward(state)
            continue
        result = engine.answer(state, screen.key, answers[screen.key], confirm_soft=range(9), now=NOW)
        assert result.accepted, result
    return state, engine.path(state)


# -- show_if ---------------------------------------------------------------------------------
def test_show_if_on_question_skips_it():
    engine = engine_for(f"""\
- {{id: A, type: single, text: a, options: {YES_NO}}}
- {{id: B, type: text, text: b, show_if: "A == 1"}}
- {{id: C, type: text, text: c}}
""")
    assert run(engine, {"A": 1, "B": "x", "C": "y"})[1] == ["A", "B", "C"]
    state, path = run(engine, {"A": 2, "C": "y"})
    assert path == ["A", "C"]
    assert engine.export_row(state)["B"] is None


def test_show_if_on_block_skips_its_body():
    engine = engine_for(f"""\
- {{id: A, type: single, text: a, options: {YES_NO}}}
- block: blk
  show_if: "A == 1"
  body:
    - {{id: B1, type: text, text: b}}
    - {{id: B2, type: text, text: b}}
- {{id: C, type: text, text: c}}
""")
    assert run(engine, {"A": 1, "B1": "x", "B2": "x", "C": "y"})[1] == ["A", "B1", "B2", "C"]
    assert run(engine, {"A": 2, "C": "y"})[1] == ["A", "C"]


def test_show_if_on_option_hides_it_and_refuses_it():
    engine = engine_for(f"""\
- {{id: A, type: single, text: a, options: {YES_NO}}}
- {{id: B, type: single, text: b, options: [{{code: 1, de: x}}, {{code: 2, de: y, show_if: "A == 1"}}]}}
""")
    state = engine.start(1, {})
    engine.answer(state, "A", 2)
    screen = engine.screen(state)
    assert [o.code for o in screen.options] == [1]
    result = engine.answer(state, "B", 2)
    assert [m.check for m in result.errors] == ["option"]


def test_goto_is_compiled_to_show_if_on_the_skipped_nodes():
    engine = engine_for(f"""\
- {{id: A, type: single, text: a, options: {YES_NO}, goto: [{{if: "A == 2", to: C}}]}}
- {{id: B, type: text, text: b}}
- {{id: B2, type: text, text: b}}
- {{id: C, type: text, text: c}}
""")
    assert run(engine, {"A": 2, "C": "y"})[1] == ["A", "C"]
    assert run(engine, {"A": 1, "B": "x", "B2": "x", "C": "y"})[1] == ["A", "B", "B2", "C"]


# -- loops -----------------------------------------------------------------------------------
LOOP_OVER_MULTI = """\
- {id: K1, type: multi, text: "Marken?", options: [{code: 1, de: VeloFlat}, {code: 2, de: Radpass},
   {code: 3, de: eRollo}, {code: 96, de: andere}]}
- loop: L
  over: K1
  where: "$code != 96"
  body:
    - {id: K2, type: single, label: "K2 {$label}", text: "Wie sympathisch ist {$label} ({$code})?",
       options: [{code: 1, de: sehr}, {code: 2, de: wenig}]}
    - {id: K2b, type: text, show_if: "K2 == 2", text: "Warum wenig bei {$label}? Sie sagten {K2:label}."}
- {id: Z, type: text, text: "Ende, zuletzt {K2_3:label}"}
"""


def test_loop_over_multi_answer_names_iterations_and_fills_label_and_code():
    engine = engine_for(LOOP_OVER_MULTI)
    state = engine.start(1, {})
    engine.answer(state, "K1", [1, 3, 96])
    screen = engine.screen(state)
    assert (screen.key, screen.text, screen.loop_code, screen.loop_label) == (
        "K2_1",
        "Wie sympathisch ist VeloFlat (1)?",
        1,
        "VeloFlat",
    )
    engine.answer(state, "K2_1", 1)
    assert engine.screen(state).key == "K2_3"  # body ids mean the current iteration: K2 is K2_3 here
    engine.answer(state, "K2_3", 2)
    screen = engine.screen(state)
    assert (screen.key, screen.text) == ("K2b_3", "Warum wenig bei eRollo? Sie sagten wenig.")
    engine.answer(state, "K2b_3", "teuer")
    assert engine.screen(state).text == "Ende, zuletzt wenig"
    engine.answer(state, "Z", "z")
    assert engine.path(state) == ["K1", "K2_1", "K2_3", "K2b_3", "Z"]
    row = engine.export_row(state)
    assert (row["K2_1"], row["K2_2"], row["K2_3"], row["K2b_1"], row["K2b_3"]) == (1, None, 2, None, "teuer")


def test_loop_over_list_and_count_loops():
    engine = engine_for(
        """\
- loop: L
  over: farben
  body:
    - {id: F, type: text, text: "Farbe {$label}"}
- {id: N, type: numeric, min: 0, max: 9, text: n}
- loop: P
  count: N
  max: 3
  body:
    - {id: Alter, type: numeric, min: 0, max: 99, text: "Person {$code}"}
""",
        "lists: {farben: [{code: 1, de: rot}, {code: 2, de: blau}]}",
    )
    answers = {"F_1": "a", "F_2": "b", "N": 5, "Alter_1": 1, "Alter_2": 2, "Alter_3": 3}
    _, path = run(engine, answers)
    assert path == ["F_1", "F_2", "N", "Alter_1", "Alter_2", "Alter_3"]
    _, path = run(engine, {**answers, "N": 0})
    assert path == ["F_1", "F_2", "N"]


def test_loop_without_items_is_skipped():
    engine = engine_for(LOOP_OVER_MULTI)
    assert run(engine, {"K1": [96], "Z": "z"})[1] == ["K1", "Z"]


LOOP_ITEM_TEXTS = """\
- {id: S, type: text, text: "Stadt?"}
- {id: K1, type: multi, text: "Marken?", options: [{code: 1, de: "Velo{{Flat}}"}, {code: 2, de: "Rad in {S}"}]}
- loop: L
  over: K1
  body:
    - {id: K2, type: text, text: "Wie finden Sie {$label}? Sie nannten {K1:label}."}
"""


def test_loop_label_fill_shows_the_item_text_as_it_reads_on_its_own():
    """{$label} gives what the item's text renders as: {{/}} single, its own fills resolved,
    exactly like {K1:label} and the option on K1's screen."""
    engine = engine_for(LOOP_ITEM_TEXTS)
    state = engine.start(1, {})
    engine.answer(state, "S", "Bern")
    assert [o.label for o in engine.screen(state).options] == ["Velo{Flat}", "Rad in Bern"]
    engine.answer(state, "K1", [1, 2])
    screen = engine.screen(state)
    assert (screen.key, screen.loop_label) == ("K2_1", "Velo{Flat}")
    assert screen.text == "Wie finden Sie Velo{Flat}? Sie nannten Velo{Flat} und Rad in Bern."
    engine.answer(state, "K2_1", "gut")
    screen = engine.screen(state)
    assert (screen.key, screen.loop_label) == ("K2_2", "Rad in Bern")
    assert screen.text == "Wie finden Sie Rad in Bern? Sie nannten Velo{Flat} und Rad in Bern."


def test_loop_label_fill_over_a_list_and_in_nested_loops():
    engine = engine_for(
        """\
- loop: A
  over: marken
  body:
    - {id: K, type: multi, text: "K {$label}", options: [{code: 1, de: "{$label} {{neu}}"}, {code: 2, de: alt}]}
    - loop: B
      over: K
      body:
        - {id: W, type: text, text: "Warum {$label}? ({K:label} / {=label(K)})"}
- {id: Z, type: text, text: "Zuletzt {K_1:label}"}
""",
        'lists: {marken: [{code: 1, de: "{{Velo}}"}]}',
    )
    state = engine.start(1, {})
    assert engine.screen(state).text == "K {Velo}"
    assert [o.label for o in engine.screen(state).options] == ["{Velo} {neu}", "alt"]
    engine.answer(state, "K_1", [1, 2])
    screen = engine.screen(state)
    chosen = "{Velo} {neu} und alt"  # K's options as on its screen, whichever loop the fill is in
    assert (screen.key, screen.loop_label) == ("W_1_1", "{Velo} {neu}")
    assert screen.text == f"Warum {{Velo}} {{neu}}? ({chosen} / {chosen})"
    engine.answer(state, "W_1_1", "x")
    assert engine.screen(state).text == f"Warum alt? ({chosen} / {chosen})"
    engine.answer(state, "W_1_2", "x")
    assert engine.screen(state).text == f"Zuletzt {chosen}"


def export_codes(engine: Engine, index: int) -> list[int]:
    """The item codes the loop at flow position ``index`` has export variables for."""
    return [item.code for item in engine.questionnaire.flow[index].export_items]


def test_label_in_where_is_the_item_text_as_heard_statically_and_at_runtime():
    """$label in expressions equals {$label}: {{/}} are single braces, in the static where
    (export variables) as in the runtime one."""
    engine = engine_for(
        """\
- loop: L
  over: marken
  where: "$label != 'A {b}'"
  body:
    - {id: B, type: text, text: "B {$label}"}
- {id: K1, type: multi, text: k, options: [{code: 1, de: "A {{b}}"}, {code: 2, de: "C"}]}
- {loop: M, over: K1, where: "$label == 'A {b}'", body: [{id: K2, type: text, text: "K2 {=$label + '!'} {$label}"}]}
""",
        'lists: {marken: [{code: 1, de: "A {{b}}"}, {code: 2, de: "C"}]}',
    )
    assert export_codes(engine, 0) == [2]
    assert export_codes(engine, 2) == [1]
    state = engine.start(1, {})
    assert engine.screen(state).key == "B_2"
    engine.answer(state, "B_2", "x")
    engine.answer(state, "K1", [1, 2])
    screen = engine.screen(state)
    assert (screen.key, screen.text) == ("K2_1", "K2 A {b}! A {b}")
    engine.answer(state, "K2_1", "y")
    assert not isinstance(engine.screen(state), Screen)
    assert engine.path(state) == ["B_2", "K1", "K2_1"]


def test_where_on_an_item_text_with_fills_is_left_to_the_runtime():
    """An item whose text has fills keeps its export variables; at runtime where sees the text
    with its fills resolved. Items without fills are still filtered statically."""
    engine = engine_for(
        """\
- {id: S, type: text, text: "Stadt?"}
- {id: K1, type: multi, text: k, options: [{code: 1, de: "Rad in {S}"}, {code: 2, de: Velo}]}
- loop: L
  over: K1
  where: "$label == 'Rad in Bern'"
  body:
    - {id: K2, type: text, text: "Wie finden Sie {=$label}?"}
"""
    )
    assert export_codes(engine, 2) == [1]
    state, path = run(engine, {"S": "Bern", "K1": [1, 2], "K2_1": "gut"})
    assert path == ["S", "K1", "K2_1"]
    assert engine.export_row(state)["K2_1"] == "gut"
    state = engine.start(1, {})
    engine.answer(state, "S", "Bern")
    engine.answer(state, "K1", [1, 2])
    assert engine.screen(state).text == "Wie finden Sie Rad in Bern?"
    assert run(engine, {"S": "Basel", "K1": [1, 2]})[1] == ["S", "K1"]


def test_label_in_where_of_nested_loops_is_the_inner_item_as_heard():
    engine = engine_for(
        """\
- loop: A
  over: marken
  where: "$label != 'Rad'"
  body:
    - {id: K, type: multi, text: "K {$label}", options: [{code: 1, de: "{$label} {{neu}}"}, {code: 2, de: alt}]}
    - loop: B
      over: K
      where: "$label != '{Velo} {neu}'"
      body:
        - {id: W, type: text, text: "Warum {=$label}?"}
""",
        'lists: {marken: [{code: 1, de: "{{Velo}}"}, {code: 2, de: Rad}]}',
    )
    loop_a = engine.questionnaire.flow[0]
    assert [item.code for item in loop_a.export_items] == [1]
    assert [item.code for item in loop_a.body[1].export_items] == [1, 2]  # item 1 has a fill
    state = engine.start(1, {})
    engine.answer(state, "K_1", [1, 2])
    screen = engine.screen(state)
    assert (screen.key, screen.text) == ("W_1_2", "Warum alt?")
    engine.answer(state, "W_1_2", "x")
    assert engine.path(state) == ["K_1", "W_1_2"]


def test_static_where_on_label_drops_an_item_only_when_every_language_does():
    """The interview may run in any language: an item whose label passes where in one of them
    keeps its export variables, and runs in that language."""
    engine = Engine(
        load_questionnaire(
            """\
format: cati/1
id: t
version: 1
title: {de: T, en: T}
languages: [de, en]
dispositions: {COMPLETE: 1}
lists: {obst: [{code: 1, de: Apfel, en: Apple}, {code: 2, de: Birne, en: Pear}, {code: 3, de: Apfel, en: Apfel}]}
flow:
  - loop: L
    over: obst
    where: "$label != 'Apfel'"
    body:
      - {id: B, type: text, text: {de: "B {$label}", en: "B {$label}"}}
""",
            "t.yaml",
        )
    )
    assert export_codes(engine, 0) == [1, 2]
    assert run(engine, {"B_2": "x"})[1] == ["B_2"]
    state, path = run(engine, {"B_1": "x", "B_2": "y"}, lang="en")
    assert path == ["B_1", "B_2"]
    assert engine.export_row(state)["B_1"] == "x"


# -- blocks and option order -----------------------------------------------------------------
RANDOM = """\
- {id: S, type: single, randomize: shuffle, text: s, options: [{code: 1, de: a}, {code: 2, de: b},
   {code: 3, de: c}, {code: 4, de: d}, {code: 5, de: e, show_if: "false"}, {code: 9, de: keine, fixed: true}]}
- block: blk
  randomize: rotate
  body:
    - {id: B1, type: text, text: b}
    - {id: B2, type: text, text: b}
    - {id: B3, type: text, text: b}
"""


def test_option_order_is_stored_reproducible_and_keeps_fixed_anchors():
    engine = engine_for(RANDOM)
    orders = set()
    for seed in range(20):
        state = engine.start(seed, {})
        screen = engine.screen(state)
        stored = state.orders["S"]
        assert sorted(stored) == [1, 2, 3, 4, 5, 9] and stored[-1] == 9
        assert [o.code for o in screen.options] == [c for c in stored if c != 5]
        again = engine.start(seed, {})
        assert again.orders["S"] == stored
        orders.add(tuple(stored))
    assert len(orders) > 5  # different seeds give different orders


def test_block_rotation_order_is_stored_and_exported():
    engine = engine_for(RANDOM)
    seen = set()
    for seed in range(12):
        state, path = run(engine, {"S": 1, "B1": "x", "B2": "x", "B3": "x"}, seed=seed)
        order = state.orders["blk"]
        assert path[1:] == order
        assert order in (["B1", "B2", "B3"], ["B2", "B3", "B1"], ["B3", "B1", "B2"])
        row = engine.export_row(state)
        assert row["blk_ord"] == ",".join(order)
        assert row["S_ord"] == ",".join(map(str, state.orders["S"]))
        seen.add(tuple(order))
    assert len(seen) == 3


def test_block_order_exports_only_the_ids_of_the_file():
    """Ends and quota checkpoints in a randomised block have no id in the file: the exported
    order (and its width) leaves out their internal ids (end:1, quota:q)."""
    engine = engine_for(
        """\
- block: blk
  randomize: shuffle
  body:
    - {id: B1, type: text, text: b}
    - {end: SO, if: "false"}
    - quota: q
    - {id: B2, type: text, text: b}
""",
        "quotas: [{id: q, on_full: QF, cells: [{id: a, if: 'true', target: null}]}]\n",
    )
    state, _ = run(engine, {"B1": "x", "B2": "y"}, seed=3)
    assert sorted(state.orders["blk"]) == ["B1", "B2", "end:1", "quota:q"]
    exported = engine.export_row(state)["blk_ord"]
    assert sorted(exported.split(",")) == ["B1", "B2"]
    variable = next(v for v in engine.codebook() if v.name == "blk_ord")
    assert variable.spss_format == "A5" and len(exported) == 5


def test_grid_row_order_is_stored():
    engine = engine_for("""\
- {id: G, type: grid, randomize_rows: shuffle, text: g, rows: [{code: 1, de: a}, {code: 2, de: b}, {code: 3, de: c}],
   options: [{code: 1, de: gut}, {code: 2, de: schlecht}]}
""")
    state = engine.start(7, {})
    screen = engine.screen(state)
    assert [r.code for r in screen.rows] == state.orders["G"]
    engine.answer(state, "G", {1: 1, 2: 1, 3: 2})
    assert engine.export_row(state)["G_ord"] == ",".join(map(str, state.orders["G"]))


# -- computed random values ------------------------------------------------------------------
def test_random_pick_is_drawn_once_per_interview_and_follows_the_seed():
    engine = engine_for("""\
- {id: A, type: text, text: a}
- {id: P, type: computed, expr: "random_pick([29, 39, 49, 59])"}
- {id: B, type: text, text: "Preis {P} €"}
""")
    values = set()
    for seed in range(30):
        state = engine.start(seed, {})
        engine.answer(state, "A", "x")
        first = state.answers["P"]
        assert engine.screen(state).text == f"Preis {first} €"
        engine.back(state)
        engine.answer(state, "A", "changed")  # route recomputed: P stays frozen
        assert state.answers["P"] == first == state.frozen["P"]
        assert engine.start(seed, {}).seed == seed
        values.add(first)
    assert values == {29, 39, 49, 59}


# -- quotas ----------------------------------------------------------------------------------
QUOTA = """\
quotas:
  - id: sex
    on_full: QF
    cells: [{id: m, if: "S == 1", target: 10}, {id: w, if: "S == 2", target: 10}, {id: x, if: "S == 3", target: null}]
"""
QUOTA_FLOW = """\
- {id: S, type: single, special: [REF], text: s, options: [{code: 1, de: m}, {code: 2, de: w}, {code: 3, de: d}]}
- quota: sex
- {id: B, type: text, text: b}
"""


def test_quota_assigns_the_first_matching_cell():
    engine = engine_for(QUOTA_FLOW, QUOTA)
    gate = OfflineQuotaGate()
    state = engine.start(1, {}, gate=gate)
    engine.answer(state, "S", 2, gate=gate)
    assert engine.screen(state).key == "B"
    assert state.quota == {"sex": 2}
    assert gate.assignments == [("sex", "w")]
    engine.answer(state, "B", "x")
    assert engine.export_row(state)["quota_sex"] == 2


def test_quota_full_cell_ends_with_on_full():
    engine = engine_for(QUOTA_FLOW, QUOTA)
    gate = OfflineQuotaGate({("sex", "w"), ("sex", "x")})
    state = engine.start(1, {}, gate=gate)
    screen = engine.answer(state, "S", 2, gate=gate).screen
    assert isinstance(screen, Ended)
    assert (screen.status, screen.disposition, screen.code) == ("ended", "QF", 3)
    state = engine.start(1, {}, gate=gate)
    assert engine.answer(state, "S", 3, gate=gate).screen.key == "B"  # no target: never full


def test_quota_without_matching_cell_is_not_counted_and_continues():
    engine = engine_for(QUOTA_FLOW, QUOTA)
    gate = OfflineQuotaGate()
    state = engine.start(1, {}, gate=gate)
    engine.answer(state, "S", "REF", gate=gate)
    assert engine.screen(state).key == "B"
    assert state.quota == {"sex": None}
    assert gate.assignments == [("sex", None)]
    engine.answer(state, "B", "x")
    assert engine.export_row(state)["quota_sex"] is None


def test_quota_gate_given_to_the_engine_is_the_default():
    engine = Engine(engine_for(QUOTA_FLOW, QUOTA).questionnaire, gate=OfflineQuotaGate({("sex", "m")}))
    state = engine.start(1, {})
    assert isinstance(engine.answer(state, "S", 1).screen, Ended)


def test_show_if_on_loop_skips_all_iterations():
    engine = engine_for(
        """\
- {id: A, type: single, text: a, options: [{code: 1, de: ja}, {code: 2, de: nein}]}
- loop: L
  over: farben
  show_if: "A == 1"
  body:
    - {id: F, type: text, text: "Farbe {$label}"}
- {id: Z, type: text, text: z}
""",
        "lists: {farben: [{code: 1, de: rot}, {code: 2, de: blau}]}",
    )
    assert run(engine, {"A": 2, "Z": "z"})[1] == ["A", "Z"]
    assert run(engine, {"A": 1, "F_1": "x", "F_2": "y", "Z": "z"})[1] == ["A", "F_1", "F_2", "Z"]


NESTED = """\
- {id: M, type: multi, text: m, options: [{code: 1, de: Rad}, {code: 2, de: Auto}, {code: 3, de: Bahn}]}
- loop: L1
  over: M
  body:
    - {id: N, type: numeric, min: 0, max: 3, text: "Wie oft {$label}?"}
    - loop: L2
      count: N
      max: 3
      body:
        - {id: W, type: single, text: "{$code}. Fahrt", options: [{code: 1, de: kurz}, {code: 2, de: lang}]}
        - {id: G, type: grid, text: g, rows: [{code: 1, de: a}, {code: 2, de: b}],
           options: [{code: 1, de: x}, {code: 2, de: y}]}
        - {id: O, type: multi, text: o,
           options: [{code: 1, de: a}, {code: 9, de: sonst, other: {id: O_txt, max_length: 9}}]}
- {id: Z, type: text, text: "Rad {N_1}, Auto {N_2}"}
"""


def test_nested_loops_name_iterations_outer_first_and_match_the_codebook():
    engine = engine_for(NESTED)
    answers = {"M": [1, 3], "N_1": 2, "N_3": 1, "Z": "z"}
    for outer, inner in ((1, 1), (1, 2), (3, 1)):
        answers |= {f"W_{outer}_{inner}": inner, f"G_{outer}_{inner}": {1: 1, 2: 2}}
        answers |= {f"O_{outer}_{inner}": [1, 9]}
    state = engine.start(1, {})
    path = []
    while isinstance(screen := engine.screen(state), Screen):
        path.append(screen.key)
        others = {o.other_key: "frei" for o in screen.options if o.other_key}
        assert engine.answer(state, screen.key, answers[screen.key], others=others).accepted
    assert path == [
        "M", "N_1", "W_1_1", "G_1_1", "O_1_1", "W_1_2", "G_1_2", "O_1_2",
        "N_3", "W_3_1", "G_3_1", "O_3_1", "Z",
    ]  # fmt: skip
    assert engine.screen(state).status == "complete"
    row = engine.export_row(state)
    assert (row["N_1"], row["N_2"], row["N_3"]) == (2, None, 1)
    assert (row["W_1_2"], row["W_3_1"], row["W_3_2"]) == (2, 1, None)
    assert (row["G_1_1_2"], row["G_2_3_1"]) == (1, 2)  # grid rows: <id>_<row><loop suffix>
    assert (row["O_1_1_1"], row["O_9_3_1"], row["O_txt_3_1"]) == (1, 1, "frei")
    # every answer on the route has its column
    exported = {v.answer_key for v in engine.codebook()}
    assert {key for key in state.answers if key in state.on_route} <= exported


def test_changing_an_answer_inside_nested_loops_resumes_at_the_right_place():
    engine = engine_for(NESTED)
    state = engine.start(1, {})
    for key, value in (("M", [1, 2]), ("N_1", 2), ("W_1_1", 1), ("G_1_1", {1: 1, 2: 1}), ("O_1_1", [1])):
        engine.answer(state, key, value)
    assert engine.screen(state).key == "W_1_2"
    engine.back(state, "G_1_1")
    engine.answer(state, "G_1_1", {1: 2, 2: 2})  # changed: route cut behind G_1_1, walk resumes inside
    assert engine.screen(state).key == "O_1_1"
    engine.forward(state)
    assert engine.screen(state).key == "W_1_2"
    engine.answer(state, "W_1_2", 2)
    engine.back(state, "N_1")
    engine.answer(state, "N_1", 1)  # fewer inner iterations
    assert [engine.screen(state).key] == ["W_1_1"]
    engine.fast_forward(state)
    assert engine.screen(state).key == "N_2"
    assert "W_1_2" in state.answers and "W_1_2" not in state.on_route


def test_changing_an_answer_inside_a_randomised_block_keeps_its_order():
    engine = engine_for(RANDOM)
    state = engine.start(3, {})
    engine.answer(state, "S", 1)
    order = state.orders["blk"]
    engine.answer(state, order[0], "a")
    engine.answer(state, order[1], "b")
    engine.back(state, order[0])
    engine.answer(state, order[0], "changed")
    assert engine.screen(state).key == order[1]
    engine.fast_forward(state)
    assert engine.screen(state).key == order[2]
    assert state.orders["blk"] == order


def test_deselecting_an_option_drops_its_specify_text():
    engine = engine_for("""\
- {id: M, type: multi, text: m, options: [{code: 1, de: a}, {code: 9, de: sonst, other: {id: M_txt, max_length: 20}}]}
- {id: Z, type: text, text: "{M_txt}"}
""")
    state = engine.start(1, {})
    engine.answer(state, "M", [1, 9], others={"M_txt": "frei"})
    assert engine.screen(state).text == "frei"
    engine.back(state)
    assert engine.screen(state).others == {"M_txt": "frei"}
    assert engine.forward(state).accepted  # the stored text is reused
    engine.back(state)
    engine.answer(state, "M", [1])
    assert "M_txt" not in state.answers
    assert engine.screen(state).text == ""
