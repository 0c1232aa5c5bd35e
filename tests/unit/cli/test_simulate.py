"""`cati simulate`: output and exit codes exactly as questionnaire-format §10 says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cati.cli import main

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"  # shared/ beside the checkout
OURS = Path(__file__).resolve().parents[3] / "questionnaires"
DATA = Path(__file__).resolve().parents[1] / "questionnaires" / "data"
EBIKE = str(EXAMPLES / "ebike_abo_konzept.yaml")
HAUSTECH = str(EXAMPLES / "haustech_nachkauf.yaml")


def simulate(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_scripted_run_prints_the_result_as_json(capsys):
    code, out, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_complete.yaml"), "--seed", "7")
    assert code == 0, err
    result = json.loads(out)
    assert list(result) == ["status", "disposition", "disposition_code", "path", "data"]
    assert (result["status"], result["disposition"], result["disposition_code"]) == ("complete", "COMPLETE", 1)
    assert result["path"][:5] == ["S1", "S2", "S3", "S4", "K1"]
    assert result["data"]["D2"] == 2 and result["data"]["K2_3"] == 98 and result["data"]["P1"] == 19.99
    assert err == ""


def test_scripted_run_with_sample_language_and_seed(capsys):
    args = [HAUSTECH, "--answers", str(DATA / "haustech_complete.yaml"), "--sample", str(DATA / "haustech_sample.yaml")]
    code, out, err = simulate(capsys, *args, "--lang", "en", "--seed", "3")
    assert code == 0, err
    data = json.loads(out)["data"]
    assert (data["lang"], data["kaufdatum"], data["F1_oth"]) == ("en", "2025-02-14", "Rechnung falsch")
    _, out2, _ = simulate(capsys, *args, "--lang", "en", "--seed", "3")
    assert json.loads(out2)["data"]["C1_ord"] == data["C1_ord"]


def test_full_quota_cell_ends_the_interview(capsys):
    args = [EBIKE, "--answers", str(DATA / "ebike_complete.yaml"), "--full", "alter_geschlecht.w_18_44"]
    code, out, _ = simulate(capsys, *args, "--full", "alter_geschlecht.m_18_44")
    assert code == 0
    result = json.loads(out)
    assert (result["status"], result["disposition"], result["disposition_code"]) == ("ended", "QUOTA_FULL", 31)


def test_unknown_quota_cell_is_wrong_usage(capsys):
    code, _, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_complete.yaml"), "--full", "alter.x")
    assert code == 2
    assert "alter.x" in err


def test_missing_scripted_answer_exits_2_naming_the_question(capsys):
    code, out, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_missing.yaml"))
    assert (code, out) == (2, "")
    assert "no scripted answer for S4" in err


def test_hard_check_refusal_exits_3_naming_question_and_check(capsys):
    code, out, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_refused.yaml"))
    assert (code, out) == (3, "")
    assert "D2: hard check 1 failed: 3 Kinder, aber nur 1 weitere Personen im Haushalt." in err


def test_implicit_check_refusal_exits_3(capsys):
    code, _, err = simulate(capsys, HAUSTECH, "--answers", str(DATA / "haustech_refused.yaml"))
    assert code == 3
    assert "A1: hard implicit check 'option' failed" in err


def test_bad_questionnaire_lists_problems_with_positions_and_exits_1(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: cati/1\nid: t\nversion: 1\ntitle: T\nlanguages: [de]\nflow: []\n", encoding="utf-8")
    code, out, err = simulate(capsys, str(bad), "--answers", str(DATA / "ebike_missing.yaml"))
    assert (code, out) == (1, "")
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: .*dispositions", err, re.MULTILINE)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    ["S1: [unclosed\n", "- just\n- a list\n", "\x00\x01binary"],
)
def test_unreadable_answers_file_exits_1_without_traceback(capsys, tmp_path, content):
    answers = tmp_path / "answers.yaml"
    answers.write_text(content, encoding="utf-8")
    code, out, err = simulate(capsys, EBIKE, "--answers", str(answers))
    assert (code, out) == (1, "")
    assert "Traceback" not in err and err.startswith("cati simulate:")


def test_missing_files_exit_1(capsys, tmp_path):
    code, _, err = simulate(capsys, str(tmp_path / "nope.yaml"), "--answers", str(DATA / "ebike_missing.yaml"))
    assert code == 1 and "nope.yaml" in err
    code, _, err = simulate(capsys, EBIKE, "--answers", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", EBIKE])  # neither --answers nor --random
    assert info.value.code == 2
    code, _, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_missing.yaml"), "--lang", "fr")
    assert code == 2 and "--lang fr" in err


def test_random_runs_report_as_text_and_json(capsys):
    code, out, _ = simulate(capsys, EBIKE, "--random", "50", "--seed", "4")
    assert code == 0
    assert out.startswith("50 random interviews (seed 4)")
    assert "questions never reached:" in out and "ends never reached:" in out
    code, out, _ = simulate(capsys, HAUSTECH, "--random", "50", "--seed", "4", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["interviews"] == 50 and report["seed"] == 4
    assert set(report["never_reached"]) == {"questions", "options", "ends"}
    assert {"checks_fired", "checks_never_fired", "dispositions"} <= set(report)


@pytest.mark.parametrize("path", [EBIKE, HAUSTECH, *sorted(str(p) for p in OURS.glob("*.yaml"))])
def test_random_200_on_each_example(capsys, path):
    code, out, _ = simulate(capsys, path, "--random", "200", "--seed", "1", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["interviews"] == 200
    assert report["stuck"] == {}
    assert report["never_reached"]["questions"] == []


def test_our_questionnaires_are_all_checked():
    assert len(list(OURS.glob("*.yaml"))) >= 2
    assert main(["check", *sorted(str(p) for p in OURS.glob("*.yaml"))]) == 0


def test_sample_values_are_typed_as_declared(capsys, tmp_path):
    sample = tmp_path / "s.yaml"
    sample.write_text('kd_anrede: "2"\nkd_name: Muster\nkd_tel: "030 123"\nprodukt: Trockner\n'
                      'kaufdatum: "2026-10-01"\nmontage: "1"\n')
    answers = tmp_path / "a.yaml"
    answers.write_text("A1: 1\nA2: 2\n")
    code, out, err = simulate(capsys, HAUSTECH, "--answers", str(answers), "--sample", str(sample))
    assert code == 0, err
    assert json.loads(out)["disposition"] == "REFUSED"
    sample.write_text(sample.read_text().replace('montage: "1"', 'montage: "7"'))
    code, _, err = simulate(capsys, HAUSTECH, "--answers", str(answers), "--sample", str(sample))
    assert code == 1
    assert f"{sample}:6:1: sample field montage: code 7 is not an option of montage" in err  # FILE:LINE:COL


SMALL = """\
format: cati/1
id: t
version: 1
title: T
languages: [de]
dispositions: {COMPLETE: 1}
sample: [{name: plz, type: text}, {name: kunde, type: text}]
flow:
- {id: T1, type: text, text: "Bemerkung"}
- {id: M, type: multi, required: false, text: m,
   options: [{code: 1, de: a}, {code: 96, de: anders, other: {id: M_oth}}]}
- {id: T2, type: text, text: "PLZ {plz}"}
"""


def test_answers_and_sample_are_read_like_questionnaires(capsys, tmp_path):
    questionnaire = tmp_path / "q.yaml"
    questionnaire.write_text(SMALL, encoding="utf-8")
    (tmp_path / "s.yaml").write_text("plz: 01067\nkunde: yes\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("T1: no\nM: [1]\nT2: 0x1F\n", encoding="utf-8")
    args = [str(questionnaire), "--answers", str(tmp_path / "a.yaml"), "--sample", str(tmp_path / "s.yaml")]
    code, out, err = simulate(capsys, *args)
    assert code == 0, err
    data = json.loads(out)["data"]
    assert (data["plz"], data["kunde"], data["T1"], data["T2"]) == ("01067", "yes", "no", "0x1F")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("T1: x\nT1: y\n", "2:1: duplicate key 'T1'"),
        ("T1: [a\n", "2:1: YAML syntax"),
        ("- a\n", "1:1: expected a mapping"),
    ],
)
def test_yaml_problems_in_answers_name_file_line_and_column(capsys, tmp_path, content, where):
    answers = tmp_path / "a.yaml"
    answers.write_text(content, encoding="utf-8")
    code, out, err = simulate(capsys, EBIKE, "--answers", str(answers))
    assert (code, out) == (1, "")
    assert err.startswith(f"cati simulate: {answers}:{where}")


def test_optional_question_needs_no_specify_text(capsys, tmp_path):
    questionnaire = tmp_path / "q.yaml"
    questionnaire.write_text(SMALL, encoding="utf-8")
    answers = tmp_path / "a.yaml"
    answers.write_text('T1: "x"\nM: [1, 96]\nT2: "y"\n', encoding="utf-8")
    code, out, err = simulate(capsys, str(questionnaire), "--answers", str(answers))
    assert code == 0, err  # the engine accepts an optional question's "other" without its text
    data = json.loads(out)["data"]
    assert (data["M_96"], data["M_oth"]) == (1, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "de-CH"], "cati simulate: --lang de-CH: the questionnaire has de, en\n"),
        (["--full", "alter"], "cati simulate: --full expects QUOTA.CELL, got 'alter'\n"),
        (["--full", "alter.x"], "cati simulate: --full alter.x: no such quota cell\n"),
    ],
)
def test_usage_errors_exit_2_with_the_documented_prefix(capsys, args, message):
    code, out, err = simulate(capsys, EBIKE, "--answers", str(DATA / "ebike_complete.yaml"), *args)
    assert (code, out, err) == (2, "", message)
    code, out, err = simulate(capsys, EBIKE, "--random", "-1")
    assert (code, out, err) == (2, "", "cati simulate: --random -1: the number of interviews cannot be negative\n")


def test_cli_docs_describe_the_simulate_messages():
    docs = (Path(__file__).resolve().parents[3] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "`cati simulate: <message>`" in docs
    for example in ("--lang fr: the questionnaire has de, en", "--full expects QUOTA.CELL", "--full alter.x: no such"):
        assert f"`cati simulate: {example}" in docs


def test_a_reader_that_goes_away_is_no_error(capsys, monkeypatch, tmp_path):
    """``cati simulate ... | head``: the pipe closes before the report is written."""
    import sys

    sink = (tmp_path / "stdout").open("w")

    class Gone:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            pass

        def fileno(self):
            return sink.fileno()

    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["simulate", HAUSTECH, "--random", "5"]) == 0
    assert "internal error" not in capsys.readouterr().err
