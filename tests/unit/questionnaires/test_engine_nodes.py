"""Engine: every node and question type, with its implicit checks and its export."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Ended, Engine, EngineError
from cati.questionnaires.render import Screen

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


def engine_for(flow: str, extra: str = "", languages: str = "[de]", title: str = "T") -> Engine:
    text = f"""\
format: cati/1
id: t
version: 1
title: {title}
languages: {languages}
dispositions:
  COMPLETE: 1
  SO: {{code: 2, aapor: "4.70"}}
  QF: {{code: 3, aapor: "4.80"}}
{textwrap.dedent(extra)}
flow:
{textwrap.indent(textwrap.dedent(flow), "  ")}
"""
    return Engine(load_questionnaire(text, "t.yaml"))


def start(engine: Engine, seed: int = 1, **kw):
    kw.setdefault("now", NOW)
    return engine.start(seed, kw.pop("sample", {}), **kw)


def current(engine: Engine, state) -> Screen:
    screen = engine.screen(state)
    assert isinstance(screen, Screen), screen
    return screen


def refused(result, check):
    assert not result.accepted
    assert [m.check for m in (*result.errors, *result.soft)] == [check], result
    return result


# -- single ----------------------------------------------------------------------------------
SINGLE = """\
- {id: Q, type: single, special: [DK], text: "Frage", instruction: "INT: vorlesen",
   options: [{code: 1, de: eins}, {code: 2, de: zwei}, {code: 3, de: drei, show_if: "false"}]}
"""


def test_single_screen_shows_text_instruction_visible_options_and_specials():
    engine = engine_for(SINGLE)
    screen = current(engine, start(engine))
    assert (screen.key, screen.type, screen.text, screen.instruction) == ("Q", "single", "Frage", "INT: vorlesen")
    assert [(o.code, o.label) for o in screen.options] == [(1, "eins"), (2, "zwei")]
    assert [(s.name, s.label) for s in screen.specials] == [("DK", "weiß nicht")]
    assert screen.existing is None


def test_single_accepts_an_option_and_completes():
    engine = engine_for(SINGLE)
    state = start(engine)
    result = engine.answer(state, "Q", 2, now=NOW)
    assert result.accepted
    assert isinstance(result.screen, Ended)
    assert (result.screen.status, result.screen.disposition, result.screen.code) == ("complete", "COMPLETE", 1)
    assert state.answers == {"Q": 2}


@pytest.mark.parametrize(
    ("value", "check"),
    [
        *[(3, "option"), (7, "option"), ("x", "type"), (None, "required"), ("REF", "special"), (True, "type")],
        *[("²", "type"), ("-¹", "type"), ("٢", "type")],  # Unicode digits: int('²') raised ValueError
    ],
)
def test_single_refuses(value, check):
    engine = engine_for(SINGLE)
    state = start(engine)
    refused(engine.answer(state, "Q", value), check)
    assert state.answers == {}
    assert current(engine, state).key == "Q"


def test_single_special_is_stored_by_name_and_exported_as_code():
    engine = engine_for(SINGLE)
    state = start(engine)
    assert engine.answer(state, "Q", "DK").accepted
    assert state.answers == {"Q": "DK"}
    assert engine.export_row(state)["Q"] == 98


def test_answering_another_key_than_the_current_screen_is_an_error():
    engine = engine_for(SINGLE)
    state = start(engine)
    with pytest.raises(EngineError):
        engine.answer(state, "X", 1)


# -- multi -----------------------------------------------------------------------------------
MULTI = """\
- {id: M, type: multi, special: [DK], max_choices: 2, text: "Welche?",
   options: [{code: 1, de: A}, {code: 2, de: B}, {code: 3, de: C},
             {code: 96, de: andere, other: {id: M_oth, max_length: 5}}, {code: 99, de: keine, exclusive: true}]}
"""


def test_multi_stores_codes_in_option_order_and_exports_dichotomies():
    engine = engine_for(MULTI)
    state = start(engine)
    assert engine.answer(state, "M", [2, 1]).accepted
    assert state.answers["M"] == [1, 2]
    row = engine.export_row(state)
    assert (row["M_1"], row["M_2"], row["M_3"], row["M_96"], row["M_99"], row["M_98"]) == (1, 1, 0, 0, 0, 0)
    assert row["M_oth"] is None


@pytest.mark.parametrize(
    ("value", "check"),
    [
        ([1, 99], "exclusive"),
        ([1, "DK"], "exclusive"),
        ([1, 2, 3], "max_choices"),
        ([], "required"),
        ([5], "option"),
        (["REF"], "special"),
        (["¹"], "type"),
    ],
)
def test_multi_refuses(value, check):
    engine = engine_for(MULTI)
    refused(engine.answer(start(engine), "M", value), check)


def test_multi_special_alone_or_as_list():
    engine = engine_for(MULTI)
    for value in ("DK", ["DK"]):
        state = start(engine)
        assert engine.answer(state, "M", value).accepted
        assert state.answers["M"] == "DK"
        row = engine.export_row(state)
        assert (row["M_1"], row["M_98"]) == (0, 1)


def test_multi_other_text_is_required_and_length_checked():
    engine = engine_for(MULTI)
    state = start(engine)
    assert current(engine, state).options[3].other_key == "M_oth"
    refused(engine.answer(state, "M", [1, 96]), "other")
    refused(engine.answer(state, "M", [1, 96], others={"M_oth": "zu lang"}), "other_length")
    assert engine.answer(state, "M", [1, 96], others={"M_oth": "Velo"}).accepted
    assert engine.export_row(state)["M_oth"] == "Velo"


def test_multi_min_choices():
    engine = engine_for(
        "- {id: M, type: multi, min_choices: 2, text: x, options: [{code: 1, de: A}, {code: 2, de: B}]}"
    )
    refused(engine.answer(start(engine), "M", [1]), "min_choices")


# -- numeric, nps ----------------------------------------------------------------------------
NUMERIC = """\
- {id: P, type: numeric, min: 0, max: 500, decimals: 2, special: [DK], text: "Preis"}
- {id: N, type: numeric, min: 1, max: 20, text: "Anzahl"}
"""


@pytest.mark.parametrize(
    ("value", "check"), [(500.01, "max"), (-1, "min"), (1.234, "decimals"), ("abc", "number"), ("", "required")]
)
def test_numeric_refuses(value, check):
    engine = engine_for(NUMERIC)
    refused(engine.answer(start(engine), "P", value), check)


def test_numeric_accepts_german_decimal_comma_and_integer_check():
    engine = engine_for(NUMERIC)
    state = start(engine)
    assert engine.answer(state, "P", "19,99").accepted
    assert state.answers["P"] == 19.99
    refused(engine.answer(state, "N", 2.5), "integer")
    assert engine.answer(state, "N", 3.0).accepted
    assert state.answers["N"] == 3


def test_numeric_special_code_is_widened_for_large_maximum():
    engine = engine_for(NUMERIC)
    state = start(engine)
    engine.answer(state, "P", "DK")
    engine.answer(state, "N", 2)
    row = engine.export_row(state)
    assert row["P"] == 9998  # max 500: three digits -> 9998 (spec §4)
    assert row["N"] == 2


def test_nps_is_an_integer_from_0_to_10():
    engine = engine_for("- {id: R, type: nps, text: Empfehlung}")
    state = start(engine)
    screen = current(engine, state)
    assert (screen.min, screen.max, screen.decimals) == (0, 10, 0)
    assert [o.code for o in screen.options] == [0, 10]  # the labelled ends of the scale
    refused(engine.answer(state, "R", 11), "max")
    assert engine.answer(state, "R", 10).accepted


# -- text, date ------------------------------------------------------------------------------
def test_text_max_length_counts_bytes_and_required():
    engine = engine_for("""\
- {id: T, type: text, max_length: 4, text: PLZ}
- {id: U, type: text, required: false, text: Kommentar}
""")
    state = start(engine)
    refused(engine.answer(state, "T", "äöü"), "max_length")  # 6 bytes in UTF-8
    refused(engine.answer(state, "T", "   "), "required")
    assert engine.answer(state, "T", "ab").accepted
    assert engine.answer(state, "U", "").accepted
    assert "U" not in state.answers
    assert engine.export_row(state)["U"] is None


def test_text_equal_to_a_special_name_is_that_special():
    engine = engine_for("- {id: T, type: text, special: [REF], text: Name}")
    state = start(engine)
    refused(engine.answer(state, "T", "DK"), "special")
    assert engine.answer(state, "T", "REF").accepted
    assert engine.export_row(state)["T"] == 99


def test_date_range_with_literal_and_expression_bounds():
    engine = engine_for("""\
- {id: D1, type: date, min: "2024-01-01", max: "today()", text: Kaufdatum}
- {id: D2, type: date, min: "D1", text: Lieferdatum}
""")
    state = start(engine)
    screen = engine.screen(state, now=NOW)
    assert (screen.min_date, screen.max_date) == ("2024-01-01", "2025-03-01")
    refused(engine.answer(state, "D1", "2023-12-31", now=NOW), "date_min")
    refused(engine.answer(state, "D1", "2025-03-02", now=NOW), "date_max")
    refused(engine.answer(state, "D1", "31.02.2025", now=NOW), "date")
    assert engine.answer(state, "D1", "15.02.2025", now=NOW).accepted
    assert state.answers["D1"] == "2025-02-15"
    refused(engine.answer(state, "D2", dt.date(2025, 2, 14), now=NOW), "date_min")
    assert engine.answer(state, "D2", dt.date(2025, 2, 20), now=NOW).accepted
    assert engine.export_row(state)["D2"] == "2025-02-20"


# -- grid ------------------------------------------------------------------------------------
GRID = """\
- {id: G, type: grid, special: [DK], text: "Wie zufrieden mit …",
   rows: [{code: 1, de: Beratung}, {code: 2, de: Lieferung}, {code: 3, de: Montage, show_if: "montage == 1"}],
   options: [{code: 1, de: gut}, {code: 2, de: schlecht}]}
"""
GRID_SAMPLE = "sample: [{name: montage, type: single, options: [{code: 1, de: ja}, {code: 2, de: nein}]}]"


def test_grid_is_one_screen_with_visible_rows_and_one_variable_per_row():
    engine = engine_for(GRID, GRID_SAMPLE)
    state = start(engine, sample={"montage": 2})
    screen = current(engine, state)
    assert [(r.code, r.key, r.label) for r in screen.rows] == [(1, "G_1", "Beratung"), (2, "G_2", "Lieferung")]
    refused(engine.answer(state, "G", {1: 1}), "row_required")
    refused(engine.answer(state, "G", {1: 1, 2: 5}), "option")
    result = refused(engine.answer(state, "G", {1: 1, 2: 2, 7: 1}), "row")  # no row 7: not dropped silently
    assert result.errors[0].message == "7 ist keine Zeile dieser Frage."
    refused(engine.answer(state, "G", {1: 1, 2: 2, "G_x": 1}), "row")
    assert engine.answer(state, "G", {1: 1, 2: 2, 7: None}).accepted  # an empty unknown row is no answer
    engine.back(state, "G")
    assert engine.answer(state, "G", {"G_1": 1, 2: "DK"}).accepted
    assert engine.path(state) == ["G"]
    row = engine.export_row(state)
    assert (row["G_1"], row["G_2"], row["G_3"]) == (1, 98, None)


def test_grid_row_shown_when_its_condition_holds():
    engine = engine_for(GRID, GRID_SAMPLE)
    state = start(engine, sample={"montage": 1})
    assert [r.code for r in current(engine, state).rows] == [1, 2, 3]
    assert engine.answer(state, "G", {1: 1, 2: 1, 3: 2}).accepted
    assert engine.export_row(state)["G_3"] == 2


# -- computed, info --------------------------------------------------------------------------
def test_computed_value_with_when_is_stored_and_exported_but_never_shown():
    engine = engine_for("""\
- {id: A, type: numeric, min: 0, max: 10, special: [DK], text: a}
- {id: A2, type: computed, when: "answered(A)", expr: "A * 2"}
- {id: B, type: text, text: "Doppelt: {A2}"}
""")
    state = start(engine)
    engine.answer(state, "A", 4)
    screen = current(engine, state)
    assert screen.text == "Doppelt: 8"
    assert engine.path(state) == ["A", "B"]
    engine.back(state)
    engine.answer(state, "A", "DK")
    assert current(engine, state).text == "Doppelt: "
    assert "A2" not in state.answers


def test_computed_date_stays_a_date_for_checks_fills_and_exports():
    engine = engine_for("""\
- {id: X_frist, type: computed, expr: "today() + 14"}
- {id: X_ende, type: computed, expr: "iif(true, X_frist - 7, null)"}
- {id: D, type: date, max: "X_ende", text: "Bis {X_frist}, spätestens {=X_ende}"}
- {id: E, type: date, text: e, checks: [{assert: "E < X_frist", message: "Nach der Frist {X_frist}"}]}
- {id: N, type: numeric, min: 0, max: 99, text: "Noch {=X_frist - D} Tage"}
""")
    assert engine.flow.questions["X_frist"].value_type == "date"
    state = start(engine)
    screen = current(engine, state)
    assert (screen.text, screen.max_date) == ("Bis 15.03.2025, spätestens 08.03.2025", "2025-03-08")
    assert engine.answer(state, "D", "2025-03-05", now=NOW).accepted
    result = refused(engine.answer(state, "E", "2025-03-20", now=NOW), 0)  # a date compared with a date
    assert result.errors[0].message == "Nach der Frist 15.03.2025"
    assert engine.answer(state, "E", "2025-03-14", now=NOW).accepted
    assert current(engine, state).text == "Noch 10 Tage"
    assert state.answers["X_frist"] == "2025-03-15"  # stored as ISO, read back as a date
    assert engine.export_row(state)["X_frist"] == "2025-03-15"
    variable = next(v for v in engine.codebook() if v.name == "X_frist")
    assert (variable.spss_type, variable.spss_format, variable.measure) == ("date", "EDATE10", "scale")


def test_computed_export_fits_its_type_list_as_codes_mixed_value_as_missing():
    engine = engine_for("""\
- {id: K, type: multi, text: k, options: [{code: 1, de: a}, {code: 2, de: b}, {code: 3, de: c}]}
- {id: K_kopie, type: computed, expr: "K"}
- {id: M, type: computed, expr: "iif(selected(K, 1), 1, 'keins')"}
- {id: B, type: text, text: "{=count(K_kopie)} genannt"}
""")
    state = start(engine)
    engine.answer(state, "K", [3, 1])
    assert state.answers["K_kopie"] == [1, 3]  # a list for later expressions
    assert current(engine, state).text == "2 genannt"
    row = engine.export_row(state)
    assert (row["K_kopie"], row["M"]) == ("1,3", 1)
    engine.back(state, "K")
    engine.answer(state, "K", [2])
    assert state.answers["M"] == "keins"
    assert engine.export_row(state)["M"] is None  # a text in the numeric variable M is system-missing


def test_computed_copy_of_a_special_is_system_missing_except_in_a_text():
    engine = engine_for("""\
- {id: N, type: numeric, min: 0, max: 500, special: [DK], text: n}
- {id: D, type: date, special: [REF], text: d}
- {id: N2, type: computed, expr: "N"}
- {id: D2, type: computed, expr: "D"}
- {id: T2, type: computed, expr: "iif(true, N, 'x')", options: [{code: 1, de: a}]}
""")
    state = start(engine)
    engine.answer(state, "N", "DK")
    engine.answer(state, "D", "REF")
    assert (state.answers["N2"], state.answers["D2"]) == ("DK", "REF")  # expressions still see the specials
    row = engine.export_row(state)
    assert (row["N"], row["N2"], row["D2"], row["T2"]) == (9998, None, None, None)  # 98 would be a valid N2
    variable = next(v for v in engine.codebook() if v.name == "N2")
    assert variable.missing == ()


def test_info_screen_is_passed_with_forward():
    engine = engine_for("""\
- {info: hallo, text: "Guten Tag, hier ist {$interviewer}.", instruction: "INT: freundlich"}
- {id: Q, type: text, text: q}
""")
    state = start(engine, interviewer_name="Anna")
    screen = current(engine, state)
    assert (screen.type, screen.text, screen.instruction) == ("info", "Guten Tag, hier ist Anna.", "INT: freundlich")
    assert engine.forward(state).accepted
    assert current(engine, state).key == "Q"
    assert engine.path(state) == ["Q"]  # info screens are not "asked"


# -- end nodes -------------------------------------------------------------------------------
def test_first_end_whose_condition_holds_ends_with_its_disposition():
    engine = engine_for("""\
- {id: A, type: numeric, min: 0, max: 99, text: Alter}
- {end: SO, if: "A < 18", text: "Zu jung ({A})"}
- {end: QF, if: "A < 30", text: "voll"}
- {id: B, type: text, text: b}
""")
    state = start(engine)
    result = engine.answer(state, "A", 16, now=NOW)
    assert isinstance(result.screen, Ended)
    assert (result.screen.status, result.screen.disposition, result.screen.code) == ("ended", "SO", 2)
    assert result.screen.text == "Zu jung (16)"
    assert engine.export_row(state)["disposition"] == 2
    state = start(engine)
    assert engine.answer(state, "A", 40).accepted
    assert current(engine, state).key == "B"


def test_end_without_condition_always_ends():
    engine = engine_for("""\
- {id: A, type: text, text: a}
- block: blk
  show_if: "A == 'x'"
  body:
    - {end: SO}
- {id: B, type: text, text: b}
""")
    state = start(engine)
    screen = engine.answer(state, "A", "x").screen
    assert isinstance(screen, Ended) and screen.disposition == "SO"


def test_no_screen_at_all_completes_at_start():
    engine = engine_for('- {id: C, type: computed, expr: "1"}')
    state = start(engine)
    screen = engine.screen(state)
    assert isinstance(screen, Ended) and screen.status == "complete"
    assert engine.export_row(state)["C"] == 1


# -- expression functions that need the engine ------------------------------------------------
def test_label_function_and_label_fill_show_option_labels():
    engine = engine_for(
        """\
- {id: S, type: single, special: [REF], text: s, options: [{code: 1, de: Rad}, {code: 2, de: Auto}]}
- {id: T, type: text, text: "{=label(S)} / {S:label} / {S}"}
""",
        "special_codes: {REF: {code: 99, de: keine Angabe}}",
    )
    state = start(engine)
    engine.answer(state, "S", 2)
    assert current(engine, state).text == "Auto / Auto / 2"
    engine.back(state)
    engine.answer(state, "S", "REF")
    assert current(engine, state).text == "keine Angabe / keine Angabe / keine Angabe"


def test_quota_open_asks_the_gate():
    from cati.questionnaires.engine import OfflineQuotaGate

    engine = engine_for(
        """\
- {id: S, type: single, text: s, options: [{code: 1, de: m}, {code: 2, de: w}]}
- quota: sex
- {id: T, type: text, text: t, show_if: "quota_open('sex')"}
- {id: U, type: text, text: u}
""",
        """\
quotas:
  - id: sex
    on_full: QF
    cells: [{id: m, if: "S == 1", target: 5}, {id: w, if: "S == 2", target: 5}]
""",
    )
    gate = OfflineQuotaGate({("sex", "w")})
    state = engine.start(1, {}, gate=gate)
    engine.answer(state, "S", 1, gate=gate)
    assert current(engine, state).key == "T"  # the respondent's cell (m) is open
    gate = OfflineQuotaGate({("sex", "m")})
    state = engine.start(1, {}, gate=gate)
    assert engine.answer(state, "S", 1, gate=gate).screen.disposition == "QF"
    engine.back(state)
    engine.answer(state, "S", 2, gate=gate)
    assert current(engine, state).key == "T"
    gate.full.add(("sex", "w"))
    engine.back(state)
    engine.answer(state, "S", 2, gate=gate)  # unchanged answer: the route stands as it was
    assert current(engine, state).key == "T"


@pytest.mark.parametrize("value", ["1e30", 1e30, "1e400", -(10**20), "12345678901234567890.5"])
def test_numeric_refuses_huge_numbers_without_crashing(value):
    engine = engine_for("- {id: P, type: numeric, min: -1000, max: 1000, decimals: 2, text: p}")
    result = engine.answer(start(engine), "P", value)
    assert not result.accepted and result.errors[0].check in ("max", "min")


def test_quota_open_with_a_named_cell_compiles_and_asks_for_that_cell():
    from cati.questionnaires.engine import OfflineQuotaGate

    engine = engine_for(
        """\
- {id: T, type: text, text: t, show_if: "quota_open('sex.w')"}
- {id: U, type: text, text: u}
- quota: sex
""",
        """\
quotas:
  - id: sex
    on_full: QF
    cells: [{id: m, if: "true", target: 5}, {id: w, if: "true", target: 5}]
""",
    )
    gate = OfflineQuotaGate({("sex", "m")})
    assert current(engine, engine.start(1, {}, gate=gate)).key == "T"
    gate = OfflineQuotaGate({("sex", "w")})
    assert current(engine, engine.start(1, {}, gate=gate)).key == "U"


def test_language_with_a_region_follows_its_base_language():
    engine = engine_for(
        """\
- {id: P, type: numeric, min: 0, max: 100, decimals: 2, special: [DK],
   text: {de-CH: Preis, en-GB: Price}}
- {id: D, type: date, text: {de-CH: Datum, en-GB: Date}}
- {id: M, type: multi, text: {de-CH: Marken, en-GB: Brands},
   options: [{code: 1, de-CH: A, en-GB: A}, {code: 2, de-CH: B, en-GB: B}, {code: 3, de-CH: C, en-GB: C}]}
- {id: N, type: nps, text: {de-CH: Empfehlung, en-GB: Recommend}}
- {info: i, text: {de-CH: "{P} / {D} / {M:label}", en-GB: "{P} / {D} / {M:label}"}}
""",
        languages="[de-CH, en-GB]",
        title="{de-CH: T, en-GB: T}",
    )
    state = start(engine)
    screen = current(engine, state)
    assert [s.label for s in screen.specials] == ["weiß nicht"]
    refused(engine.answer(state, "P", None), "required")
    assert engine.answer(state, "P", None).errors[0].message == "Bitte eine Antwort erfassen."
    assert engine.answer(state, "P", "19,99").accepted
    assert engine.answer(state, "D", "2025-03-01").accepted
    assert engine.answer(state, "M", [1, 2, 3]).accepted
    assert [o.label for o in current(engine, state).options] == ["äußerst unwahrscheinlich", "äußerst wahrscheinlich"]
    assert engine.answer(state, "N", 7).accepted
    assert current(engine, state).text == "19,99 / 01.03.2025 / A, B und C"
    engine.set_language(state, "en-GB")
    assert current(engine, state).text == "19.99 / 2025-03-01 / A, B and C"
    variables = {v.name: v for v in engine.codebook()}
    assert variables["M_1"].value_labels == {0: "nicht genannt", 1: "genannt"}
