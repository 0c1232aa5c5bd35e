"""`cati sample import` and `cati dnc import` (real commits)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import Case, DoNotCall

HEADER = "id,phone,name,state\n"


def _count(engine, model):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _create(ini, ebike):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0


def test_import_prints_report_and_commits(ini, ebike, engine, tmp_path, capsys):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text(HEADER + "A1,030 1234567,Erika,BE\nA2,030 1234567,Max,BE\nA3,089 7654321,Eva,BY\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 0
    out = capsys.readouterr().out
    assert f"{sample}: row 3: duplicate skipped: number +49301234567 as in row 2" in out
    assert "imported: 2 cases, 1 duplicate skipped, 0 invalid rows" in out  # one duplicate, no "1 duplicates"
    assert _count(engine, Case) == 2


def test_invalid_file_exits_1_and_changes_nothing(ini, ebike, engine, tmp_path, capsys):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text(HEADER + "A1,030 1234567,Erika,BE\nA2,abc,Max,Narnia\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 1
    out, err = capsys.readouterr()
    assert err == f"cati: {sample}: 2 problems; nothing imported\n"  # for scripts that read only stderr
    assert f"{sample}: row 3, column phone:" in out
    assert f"{sample}: row 3, column state:" in out
    assert "nothing imported" in out
    assert _count(engine, Case) == 0


def test_one_problem_is_one_problem(ini, ebike, engine, tmp_path, capsys):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text(HEADER + "A1,abc,Erika,BE\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 1
    assert capsys.readouterr().err == f"cati: {sample}: 1 problem; nothing imported\n"


def test_mapping_renames_columns(ini, ebike, engine, tmp_path):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text("Kundennr;Telefon;Bundesland\nK1;030 1234567;Berlin\n")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Kundennr: id\nTelefon: phone\nBundesland: state\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "--map", str(mapping), "-c", ini]) == 0
    with Session(engine) as session:
        case = session.scalar(select(Case))
        assert (case.ref, case.zone.region) == ("K1", "BE")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Telefon: phone\nTelefon: id\n", "map.yaml:2:1: duplicate key 'Telefon' (first given at line 1)"),
        ("Telefon: [phone\n", "map.yaml:2:1: YAML syntax:"),
        ("Telefon: 3\n", "map.yaml: expected a mapping of file column names to our column names"),
    ],
)
def test_a_bad_mapping_file_is_named(ini, ebike, engine, tmp_path, capsys, content, message):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text("Telefon\n030 1234567\n")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(content)
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "--map", str(mapping), "-c", ini]) == 1
    assert capsys.readouterr().err.startswith(f"cati: {tmp_path}/{message}")
    assert _count(engine, Case) == 0


def test_unknown_study(ini, tmp_path, capsys):
    sample = tmp_path / "s.csv"
    sample.write_text(HEADER)
    assert main(["sample", "import", "nope", str(sample), "-c", ini]) == 1
    assert "study 'nope' not found" in capsys.readouterr().err


def test_dnc_import_blocks_cases(ini, ebike, engine, tmp_path, capsys):
    _create(ini, ebike)
    sample = tmp_path / "s.csv"
    sample.write_text(HEADER + "A1,030 1234567,Erika,BE\n")
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 0
    numbers = tmp_path / "dnc.txt"
    numbers.write_text("+49 30 1234567\n0171 2345678\n")
    assert main(["dnc", "import", str(numbers), "-c", ini]) == 0
    assert "2 numbers added" in capsys.readouterr().out
    assert _count(engine, DoNotCall) == 2
    with Session(engine) as session:
        assert session.scalar(select(Case.state)) == "blocked"
    # a CSV with a phone column; a bad number rejects the file
    bad = tmp_path / "dnc.csv"
    bad.write_text("name,phone\nA,030 9999999\nB,kein Anschluss\n")
    assert main(["dnc", "import", str(bad), "-c", ini]) == 1
    assert "row 3, column phone" in capsys.readouterr().out
    assert _count(engine, DoNotCall) == 2


def test_dnc_import_reads_spreadsheet_encodings(ini, engine, tmp_path, capsys):
    utf16 = tmp_path / "dnc16.csv"
    utf16.write_bytes("Name;Phone\nJürgen;030 1234567\n".encode("utf-16"))  # with BOM, as Excel saves it
    windows = tmp_path / "dnc1252.txt"
    windows.write_bytes("0171 2345678\n".encode("cp1252"))
    windows_csv = tmp_path / "dnc1252.csv"
    windows_csv.write_bytes("name,phone\nJürgen,089 7654321\n".encode("cp1252"))
    for path in (utf16, windows, windows_csv):
        assert main(["dnc", "import", str(path), "-c", ini]) == 0
        assert f"{path}: 1 numbers added" in capsys.readouterr().out
    assert _count(engine, DoNotCall) == 3


def test_dnc_import_names_row_and_column_of_a_csv(ini, engine, tmp_path, capsys):
    bad = tmp_path / "dnc.csv"
    bad.write_text('name,phone\n"Erika\nMustermann",030 1234567\n\nMax,kein Anschluss\nEva,\n')
    assert main(["dnc", "import", str(bad), "-c", ini]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{bad}: row 4, column phone: not a number: 'kein Anschluss'\n"
    assert captured.err == f"cati: {bad}: 1 invalid number; nothing added\n"
    assert _count(engine, DoNotCall) == 0


def test_dnc_import_text_lines_are_lines(ini, engine, tmp_path, capsys):
    numbers = tmp_path / "dnc.txt"
    numbers.write_text('"030 1234567\nkein Anschluss\n')  # a stray quote does not join lines
    assert main(["dnc", "import", str(numbers), "-c", ini]) == 1
    assert capsys.readouterr().out == f"{numbers}: line 2: not a number: 'kein Anschluss'\n"


@pytest.mark.parametrize("content", [b"", b"\n\n", b"phone\n", "\ufeffphone\n".encode()])
def test_dnc_import_without_numbers_is_bad_input(ini, engine, tmp_path, capsys, content):
    empty = tmp_path / "dnc.csv"
    empty.write_bytes(content)
    assert main(["dnc", "import", str(empty), "-c", ini]) == 1
    assert capsys.readouterr().err == f"cati: {empty}: no numbers in the file; nothing added\n"
