"""Option values the commands refuse as wrong usage (exit 2, argparse's message), never a traceback."""

from __future__ import annotations

import json

import pytest

from cati.cli import main


def _usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.fixture
def field_study(ini, ebike, tmp_path):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    sample = tmp_path / "s.csv"
    sample.write_text("id,phone,state\nA1,030 1234567,BE\nA2,089 7654321,BY\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 0
    assert main(["study", "set", "ebike_abo_konzept", "status=field", "-c", ini]) == 0
    return "ebike_abo_konzept"


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("9999-12-31T23:59:59", "argument --at: '9999-12-31T23:59:59': out of range (years 1900 to 9998)"),
        ("0001-01-01T00:00:00+05:00", "argument --at: '0001-01-01T00:00:00+05:00': out of range"),
        ("2026-11-24", "argument --at: '2026-11-24' is a date without a time of day"),
        ("morgen", "argument --at: not an ISO date-time: 'morgen'"),
    ],
)
def test_at_outside_the_calendar_or_without_time(ini, field_study, capsys, at, message):
    capsys.readouterr()
    for command in (["sample", "due", field_study], ["sample", "explain", field_study, "A1"]):
        assert message in _usage_error([*command, "--at", at, "-c", ini], capsys)


def test_at_near_the_ends_of_the_range_works(ini, field_study, capsys):
    capsys.readouterr()
    assert main(["sample", "due", field_study, "--at", "9998-06-01T10:00:00+02:00", "--format", "json", "-c", ini]) == 0
    assert [d["case"] for d in json.loads(capsys.readouterr().out)] in (["A1", "A2"], ["A2", "A1"])
    assert main(["sample", "explain", field_study, "A1", "--at", "1900-01-02T10:00:00", "--format", "json",
                 "-c", ini]) == 0
    assert json.loads(capsys.readouterr().out)["case"] == "A1"


@pytest.mark.parametrize("limit", ["0", "-1", "zwei"])
def test_limit_must_be_a_positive_number(limit, capsys):
    assert "argument --limit:" in _usage_error(["sample", "due", "s", "--limit", limit], capsys)


@pytest.mark.parametrize("command", [["sample", "import", "s", "x.csv"], ["dnc", "import", "x.txt"]])
def test_default_region_must_be_a_known_region(command, capsys):
    message = _usage_error([*command, "--default-region", "XX"], capsys)
    assert message.endswith("argument --default-region: unknown region 'XX' (a country code such as DE, AT or CH)")


def test_default_region_in_lower_case(ini, ebike, engine, tmp_path, capsys):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    sample = tmp_path / "s.csv"
    sample.write_text("id,phone\nW1,01 5121234\n")  # a Vienna number written as dialled in Austria
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "--default-region", "at", "-c", ini]) == 0
    assert "imported: 1 case," in capsys.readouterr().out
