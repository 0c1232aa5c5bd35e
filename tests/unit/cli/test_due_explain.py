"""`cati sample due|explain --format json`: exactly the shapes of specs/cli.md, one JSON document on stdout."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import Case

SLUG = "ebike_abo_konzept"
TUESDAY_10 = "2026-11-24T10:00:00+01:00"
SUNDAY_10 = "2026-11-22T10:00:00+01:00"


def _json(argv, capsys):
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)  # one document: json.loads refuses anything after it


def test_due_and_explain_json_shapes(ini, ebike, engine, tmp_path, capsys):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    sample = tmp_path / "s.csv"
    sample.write_text("id,phone,state\nA1,030 1234567,BE\n,089 7654321,BY\n")  # the second gets a generated id
    assert main(["sample", "import", SLUG, str(sample), "-c", ini]) == 0
    with Session(engine) as session:
        generated = session.scalar(select(Case.ref).where(Case.ref != "A1"))
    capsys.readouterr()

    # a draft study delivers nothing, and explain names the status
    assert _json(["sample", "due", SLUG, "--at", TUESDAY_10, "--format", "json", "-c", ini], capsys) == []
    draft = _json(["sample", "explain", SLUG, "A1", "--at", TUESDAY_10, "--format", "json", "-c", ini], capsys)
    assert draft["callable"] is False and draft["next_callable_at"] is None
    assert any("draft" in reason for reason in draft["reasons"])

    assert main(["study", "set", SLUG, "status=field", "-c", ini]) == 0
    capsys.readouterr()
    due = _json(["sample", "due", SLUG, "--at", TUESDAY_10, "--format", "json", "-c", ini], capsys)
    assert sorted(d["case"] for d in due) == sorted(["A1", generated])
    for item in due:
        assert set(item) == {"case", "priority", "local_time", "reason"}
        assert isinstance(item["priority"], int) and item["reason"] == "fresh"
        assert dt.datetime.fromisoformat(item["local_time"]) == dt.datetime.fromisoformat(TUESDAY_10)

    explained = _json(["sample", "explain", SLUG, generated, "--at", SUNDAY_10, "--format", "json", "-c", ini],
                      capsys)
    assert set(explained) == {"case", "callable", "reasons", "next_callable_at"}
    assert (explained["case"], explained["callable"]) == (generated, False)
    assert explained["reasons"] and all(isinstance(r, str) for r in explained["reasons"])
    assert dt.datetime.fromisoformat(explained["next_callable_at"]) > dt.datetime.fromisoformat(SUNDAY_10)


def test_unknown_study_or_case_prints_nothing_on_stdout(ini, ebike, capsys):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    capsys.readouterr()
    assert main(["sample", "due", "nope", "--format", "json", "-c", ini]) == 1
    assert capsys.readouterr() == ("", "cati: study 'nope' not found\n")
    assert main(["sample", "explain", SLUG, "X9", "--format", "json", "-c", ini]) == 1
    assert capsys.readouterr() == ("", f"cati: case 'X9' not found in study '{SLUG}'\n")
