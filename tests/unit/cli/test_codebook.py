"""`cati codebook FILE [--format json|text]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cati.cli import main

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
EBIKE = str(EXAMPLES / "ebike_abo_konzept.yaml")


def test_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codebook", EBIKE, "--format", "json"]) == 0
    variables = json.loads(capsys.readouterr().out)
    by_name = {v["name"]: v for v in variables}
    assert len(variables) == 45
    assert by_name["K1_98"] == {
        "name": "K1_98",
        "label": "K1 Bekanntheit Abo-Anbieter (gestützt): weiß nicht",
        "type": "numeric",
        "format": "F1.0",
        "measure": "nominal",
        "value_labels": {"0": "nicht genannt", "1": "genannt"},
        "missing": [],
        "mr_set": "$K1",
        "pii": False,
        "kind": "dichotomy",
        "question": "K1",
        "show_if": None,
    }
    assert by_name["P1"]["missing"] == [9998] and by_name["P1"]["format"] == "F7.2"


def test_text_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["codebook", EBIKE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "type", "format", "measure", "missing", "mr_set", "label"]
    s2 = next(line for line in lines if line.startswith("S2 "))
    assert s2.split()[:5] == ["S2", "numeric", "F2.0", "nominal", "99"]
    assert any(line.strip() == "1 = männlich" for line in lines)


def test_bad_file_reports_problems_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: cati/9\n", encoding="utf-8")
    assert main(["codebook", str(bad), "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{bad}:1:9: format: unsupported version 'cati/9'; this checker reads cati/1" in err.splitlines()
