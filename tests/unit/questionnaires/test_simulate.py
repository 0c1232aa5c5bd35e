"""Offline simulation of the two example questionnaires (spec §10): scripted and random runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from cati.questionnaires.compiler import load_file
from cati.questionnaires.engine import Engine
from cati.questionnaires.simulate import (
    MissingAnswer,
    RefusedAnswer,
    format_report,
    parse_full,
    run_random,
    run_script,
)

from .helpers import EXAMPLES

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ebike() -> Engine:
    return Engine(load_file(EXAMPLES / "ebike_abo_konzept.yaml"))


@pytest.fixture(scope="module")
def haustech() -> Engine:
    return Engine(load_file(EXAMPLES / "haustech_nachkauf.yaml"))


def script(name: str) -> dict:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


PARADATA_DONE = {
    "resp_id": None,
    "disposition": 1,
    "lang": "de",
    "interviewer_id": None,
    "start_ts": "2025-03-01T10:00:00+00:00",
    "end_ts": "2025-03-01T10:00:00+00:00",
    "duration_s": 0,
}


def test_ebike_complete_interview_path_and_data(ebike):
    result = run_script(ebike, script("ebike_complete.yaml"), seed=7, now=NOW)
    assert (result.status, result.disposition, result.disposition_code) == ("complete", "COMPLETE", 1)
    assert result.path == [
        "S1", "S2", "S3", "S4", "K1", "K2_1", "K2_3", "K3", "K4",
        "P1", "P2", "P3", "P4", "P6", "D1", "D2", "D3", "D4",
    ]  # fmt: skip
    orders = result.state.orders
    assert result.data == {
        **PARADATA_DONE,
        "q_version": 3,
        "n_soft_overrides": 1,  # P4 not ascending, confirmed automatically
        "S1": 34, "S2": 2, "S3_1": 0, "S3_2": 0, "S3_3": 0, "S3_5": 1,
        "S3_ord": ",".join(map(str, orders["S3"])),
        "S4": 1,
        "quota_alter_geschlecht": 3,  # w_18_44
        "K1_1": 1, "K1_2": 0, "K1_3": 1, "K1_96": 1, "K1_98": 0, "K1_oth": "BikeBox",
        "K1_ord": ",".join(map(str, orders["K1"])),
        "K2_1": 2, "K2_2": None, "K2_3": 98,
        "K3": 2, "K3_t2b": 1,
        "K4_1": 1, "K4_2": 2, "K4_3": 98, "K4_4": 4,
        "K4_ord": ",".join(map(str, orders["K4"])),
        "P1": 19.99, "P2": 29, "P3": 59.5, "P4": 45,
        "P5": result.state.frozen["P5"],
        "P6": 3,
        "D1": 4, "D2": 2, "D3": 99, "D4": "50667",
    }  # fmt: skip
    assert orders["S3"][-1] == 5 and orders["K1"][-1] == 96  # fixed anchors stay last
    assert result.data["P5"] in (29, 39, 49, 59)
    assert result.unused == []


def test_ebike_orders_and_random_price_follow_the_seed(ebike):
    runs = [run_script(ebike, script("ebike_complete.yaml"), seed=seed, now=NOW) for seed in (7, 7, 8, 9, 10)]
    keys = ("S3_ord", "K1_ord", "K4_ord", "P5")
    assert [runs[0].data[k] for k in keys] == [runs[1].data[k] for k in keys]
    assert len({tuple(r.data[k] for k in keys) for r in runs}) > 1


def test_ebike_screen_out(ebike):
    result = run_script(ebike, script("ebike_screenout.yaml"), seed=7, now=NOW)
    assert (result.status, result.disposition, result.disposition_code) == ("ended", "SO_INDUSTRY", 22)
    assert result.path == ["S1", "S2", "S3"]
    data = result.data
    assert (data["disposition"], data["S1"], data["S3_1"], data["S3_2"], data["S3_5"]) == (22, 52, 1, 1, 0)
    assert all(data[k] is None for k in ("S4", "quota_alter_geschlecht", "K1_1", "K1_ord", "P5", "D4"))


def test_ebike_full_quota_cell_ends_with_quota_full(ebike):
    full = parse_full(["alter_geschlecht.w_18_44"])
    result = run_script(ebike, script("ebike_complete.yaml"), seed=7, full=full, now=NOW)
    assert (result.status, result.disposition, result.disposition_code) == ("ended", "QUOTA_FULL", 31)
    assert result.path == ["S1", "S2", "S3", "S4"]
    assert result.data["quota_alter_geschlecht"] == 3


def test_ebike_missing_answer_names_the_question(ebike):
    with pytest.raises(MissingAnswer) as info:
        run_script(ebike, script("ebike_missing.yaml"), now=NOW)
    assert info.value.key == "S4" and info.value.exit_code == 2
    assert "S4" in str(info.value)


def test_ebike_hard_check_refusal_names_question_and_check(ebike):
    with pytest.raises(RefusedAnswer) as info:
        run_script(ebike, script("ebike_refused.yaml"), now=NOW)
    assert info.value.exit_code == 3
    assert str(info.value) == (
        "the scripted answer to D2 was refused: D2: hard check 1 failed: "
        "3 Kinder, aber nur 1 weitere Personen im Haushalt."
    )


def test_missing_specify_text_is_a_missing_answer(ebike):
    answers = script("ebike_complete.yaml")
    del answers["K1_oth"]
    with pytest.raises(MissingAnswer) as info:
        run_script(ebike, answers, seed=7, now=NOW)
    assert info.value.key == "K1_oth"


def test_haustech_detractor_with_call_back(haustech):
    sample = script("haustech_sample.yaml")
    result = run_script(haustech, script("haustech_complete.yaml"), sample=sample, seed=3, now=NOW)
    assert (result.status, result.disposition) == ("complete", "COMPLETE")
    assert result.path == ["A1", "A2", "N1", "N2", "C1", "F1", "F2", "F3", "F4"]
    assert result.data == {
        **PARADATA_DONE,
        "q_version": 7,
        "n_soft_overrides": 0,
        "kd_anrede": 2, "kd_name": "Müller", "kd_tel": "030 1234567", "produkt": "einen Geschirrspüler",
        "kaufdatum": "2025-02-14", "montage": 1,
        "A1": 1, "A2": 1, "N1": 4, "N1_band": 1, "N2": "Lieferung kam zwei Tage zu spät",
        "C1_1": 2, "C1_2": 5, "C1_3": 98, "C1_4": 1, "C1_5": 97,
        "C1_ord": ",".join(map(str, result.state.orders["C1"])),
        "C1_min": 5,
        "F1_1": 1, "F1_2": 0, "F1_3": 0, "F1_4": 0, "F1_96": 1, "F1_98": 0, "F1_oth": "Rechnung falsch",
        "F2": 1, "F3": "+49 30 1234567", "F4": 2,
        "R1": None,
    }  # fmt: skip


def test_haustech_texts_are_filled_from_the_sample(haustech):
    sample = script("haustech_sample.yaml")
    state = haustech.start(1, sample, interviewer_name="Anna", now=NOW)
    screen = haustech.screen(state)
    assert screen.text == "Guten Tag, hier ist Anna im Auftrag von HausTech. Spreche ich mit Frau Müller?"
    haustech.answer(state, "A1", 1)
    assert haustech.screen(state).text.startswith("Sie haben am 14.02.2025 bei uns einen Geschirrspüler gekauft.")
    haustech.set_language(state, "en")
    assert haustech.screen(state).text.startswith("On 2025-02-14 you bought einen Geschirrspüler from us.")


def test_haustech_variant_text_and_default(haustech):
    sample = script("haustech_sample.yaml")
    state = haustech.start(1, sample, now=NOW)
    for key, value in (("A1", 1), ("A2", 1), ("N1", 10)):
        haustech.answer(state, key, value)
    assert haustech.screen(state).text == "Schön, dass Sie uns 10 Punkte geben! Was hat Sie besonders überzeugt?"
    haustech.back(state)
    haustech.answer(state, "N1", 8)
    assert haustech.screen(state).text == "Was ist der wichtigste Grund für Ihre Bewertung mit 8 Punkten?"


def test_haustech_wrong_person_ends_and_refusal_exits_3(haustech):
    result = run_script(haustech, {"A1": 2}, now=NOW)
    assert (result.status, result.disposition, result.path) == ("ended", "NOT_TARGET", ["A1"])
    with pytest.raises(RefusedAnswer) as info:
        run_script(haustech, script("haustech_refused.yaml"), now=NOW)
    assert "A1: hard implicit check 'option' failed" in str(info.value)


@pytest.mark.parametrize("name", ["ebike_abo_konzept", "haustech_nachkauf"])
def test_random_200_interviews_reach_every_question_and_end(name):
    engine = Engine(load_file(EXAMPLES / f"{name}.yaml"))
    coverage = run_random(engine, 200, seed=1, now=NOW)
    report = coverage.report()
    assert report["interviews"] == 200
    assert sum(report["dispositions"].values()) == 200
    assert report["stuck"] == {}
    assert report["never_reached"]["questions"] == []
    assert report["never_reached"]["ends"] == []
    assert report["checks_fired"], "random answers should trip some explicit checks"
    assert report["implicit_checks_fired"], "random runs include invalid answers"
    text = format_report(report)
    assert text.startswith("200 random interviews (seed 1)")
    assert run_random(engine, 20, seed=5, now=NOW).report() == run_random(engine, 20, seed=5, now=NOW).report()


def test_random_report_lists_unreachable_question_and_option():
    from cati.questionnaires.compiler import load_questionnaire

    engine = Engine(
        load_questionnaire(
            """\
format: cati/1
id: t
version: 1
title: T
languages: [de]
dispositions: {COMPLETE: 1}
flow:
  - {id: A, type: single, text: a, options: [{code: 1, de: x}, {code: 2, de: y, show_if: "false"}]}
  - {id: B, type: text, text: b, show_if: "A == 2"}
""",
            "t.yaml",
        )
    )
    report = run_random(engine, 30, seed=2).report()
    assert report["never_reached"]["questions"] == ["B"]
    assert report["never_reached"]["options"] == {"A": [2]}


def test_export_row_has_every_codebook_variable_in_order_and_takes_server_paradata(ebike):
    result = run_script(ebike, script("ebike_complete.yaml"), seed=7, now=NOW)
    assert list(result.data) == [v.name for v in ebike.codebook()]
    row = ebike.export_row(result.state, {"resp_id": "r-17", "interviewer_id": "i-3"})
    assert (row["resp_id"], row["interviewer_id"], row["disposition"]) == ("r-17", "i-3", 1)
    on_route = {k for k in result.state.answers if k in result.state.on_route}
    assert on_route <= {v.answer_key for v in ebike.codebook()}


def test_partial_interview_exports_no_disposition_or_end(ebike):
    state = ebike.start(1, {}, now=NOW)
    ebike.forward(state)  # the intro
    ebike.answer(state, "S1", 40)
    row = ebike.export_row(state)
    assert (row["S1"], row["disposition"], row["end_ts"], row["duration_s"]) == (40, None, None, None)


def _engine(flow: str) -> Engine:
    """A one-language questionnaire of ``flow`` lines."""
    from cati.questionnaires.compiler import load_questionnaire

    header = "format: cati/1\nid: t\nversion: 1\ntitle: T\nlanguages: [de]\ndispositions: {COMPLETE: 1}\n"
    return Engine(load_questionnaire(header + "flow:\n" + flow, "t.yaml"))


def test_random_runs_pass_a_hard_check_against_a_computed_date():
    engine = _engine("""\
- {id: X_frist, type: computed, expr: "today() + 14"}
- {id: D, type: date, text: "Datum (bis {X_frist})", checks: [{assert: "D < X_frist", message: zu spät}]}
""")
    coverage = run_random(engine, 30, 1)
    assert coverage.stuck == {} and coverage.dispositions == {"COMPLETE": 30}


def test_a_date_bound_text_that_is_no_date_does_not_bound():
    """A text bound must be an ISO date to apply (as validate does); other texts are no bound,
    so the screen shows none and random runs draw dates without crashing on it."""
    engine = _engine('- {id: T, type: text, text: "Frist?"}\n- {id: D, type: date, text: "Datum", min: T}\n')
    state = engine.start(1, {}, now=NOW)
    engine.answer(state, "T", "bald", now=NOW)
    assert engine.screen(state, now=NOW).min_date is None
    engine.back(state, "T", now=NOW)
    engine.answer(state, "T", "2025-02-01", now=NOW)
    assert engine.screen(state, now=NOW).min_date == "2025-02-01"
    assert not engine.answer(state, "D", "2025-01-31", now=NOW).accepted
    coverage = run_random(engine, 20, 1, now=NOW)
    assert coverage.stuck == {} and coverage.dispositions == {"COMPLETE": 20}
