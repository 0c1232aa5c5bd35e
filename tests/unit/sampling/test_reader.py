"""Sample files: encodings, delimiters, XLSX, row numbers, every problem class, duplicates."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cati.sampling.reader import ContactRecord, RowProblem, SampleReadResult, parse_consent, read_sample

UTC = dt.UTC


def read(text: str, *, encoding: str = "utf-8", filename: str = "sample.csv", **kwargs: Any) -> SampleReadResult:
    return read_sample(text.encode(encoding), filename=filename, **kwargs)


def problem_at(result: SampleReadResult, row: int, column: str) -> RowProblem:
    found = [p for p in result.problems if p.row == row and p.column == column]
    assert found, f"no problem at row {row}, column {column}: {result.problems}"
    return found[0]


# --------------------------------------------------------------------------- encodings and delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(delimiter: str) -> None:
    text = delimiter.join(["id", "phone", "name", "note"]) + "\n"
    text += delimiter.join(["1", "030 1234567", "Anna", '"a, b; c|d"']) + "\n"
    text += delimiter.join(["2", "0171 2345678", "Ben", "x"]) + "\n"
    result = read(text)
    assert result.ok, result.problems
    assert result.delimiter == delimiter
    assert [r.reference for r in result.records] == ["1", "2"]
    assert result.records[0].fields == {"note": "a, b; c|d"}


def test_semicolon_file_with_decimal_commas() -> None:
    result = read("id;phone;revenue\n1;030 1234567;3,5\n2;030 7654321;12,75\n")
    assert result.delimiter == ";"
    assert result.records[1].fields["revenue"] == "12,75"


def test_utf8_with_bom() -> None:
    result = read_sample("id,phone,name\n1,030 1234567,Jürgen\n".encode("utf-8-sig"), filename="s.csv")
    assert result.ok
    assert result.encoding == "utf-8-sig"
    assert result.columns == ["id", "phone", "name"]
    assert result.records[0].name == "Jürgen"


def test_windows_1252_umlauts() -> None:
    result = read("id;phone;name;city\n1;030 1234567;Müller;Köln\n2;030 7654321;Weiß;Düsseldorf\n", encoding="cp1252")
    assert result.ok
    assert result.encoding == "cp1252"
    assert [r.name for r in result.records] == ["Müller", "Weiß"]
    assert result.records[0].fields["city"] == "Köln"
    assert any("Windows-1252" in n.reason for n in result.notes)


def test_plain_utf8() -> None:
    result = read("id;phone;name\n1;030 1234567;Łukasz Żółć\n")
    assert result.encoding == "utf-8"
    assert result.records[0].name == "Łukasz Żółć"


def test_utf16_excel_unicode_text() -> None:
    data = "id\tphone\tname\r\n1\t030 1234567\tÄnne\r\n".encode("utf-16")
    result = read_sample(data, filename="export.txt")
    assert result.ok, result.problems
    assert (result.encoding, result.delimiter) == ("utf-16", "\t")
    assert result.records[0].name == "Änne"


def test_unknown_encoding_is_reported() -> None:
    result = read_sample(b"id;phone;name\n1;030 1234567;\x81\x8d\n", filename="s.csv")
    assert not result.records
    assert result.problems[0].row == 0
    assert "unknown encoding" in result.problems[0].reason


def test_binary_file_is_reported() -> None:
    result = read_sample(b"id;phone\x00\x00\x01", filename="s.csv")
    assert "NUL" in result.problems[0].reason


def test_excel_sep_hint_line() -> None:
    result = read("sep=;\nid;phone\n1;030 1234567\n2;oops\n")
    assert result.delimiter == ";"
    assert problem_at(result, 3, "phone")  # the hint line is not counted, like in Excel


# --------------------------------------------------------------------------- file-level problems


@pytest.mark.parametrize(
    ("data", "row", "fragment"),
    [
        (b"", 0, "empty"),
        (b"\n\n  \n", 0, "empty"),
        (b"id;phone\n", 0, "no data rows"),
        (b"id;name\n1;Anna\n", 1, "no phone column"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", 0, ".xls"),
    ],
)
def test_file_level_problems(data: bytes, row: int, fragment: str) -> None:
    result = read_sample(data, filename="s.csv")
    assert result.problems and not result.records
    assert result.problems[0].row == row
    assert fragment in result.problems[0].reason


def test_no_phone_column_names_the_columns() -> None:
    problem = read("id;Telefon\n1;030 1234567\n").problems[0]
    assert (problem.row, problem.column) == (1, "phone")
    assert "Telefon" in problem.reason and "--map" in problem.reason


def test_duplicate_header() -> None:
    result = read("phone;Phone\n030 1234567;030 7654321\n")
    assert problem_at(result, 1, "Phone")
    assert "twice" in result.problems[0].reason


def test_missing_file_and_wrong_type() -> None:
    assert "cannot open" in read_sample("/nonexistent/x.csv", filename="x.csv").problems[0].reason
    assert read_sample(42, filename="x.csv").problems[0].row == 0  # type: ignore[arg-type]


def test_xlsx_name_but_not_a_zip() -> None:
    result = read("id;phone\n1;030 1234567\n", filename="sample.xlsx")
    assert "not an xlsx" in result.problems[0].reason


def test_broken_xlsx() -> None:
    result = read_sample(b"PK\x03\x04garbage that is no zip", filename="sample.xlsx")
    assert result.problems[0].row == 0
    assert "not an xlsx" in result.problems[0].reason


# --------------------------------------------------------------------------- row problems

HEADER = "id;phone;phone2;name;state;postcode;country;timezone;person_type;customer;consent_at;language\n"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("9;;;;;;;;;;;", "phone", "missing phone number"),
        ("9;abc;;;;;;;;;;", "phone", "not a number"),
        ("9;030;;;;;;;;;;", "phone", "too short"),
        ("9;030 1234567;0301;;;;;;;;;", "phone2", "invalid for region DE"),
        ("9;4,93012E+11;;;;;;;;;;", "phone", "scientific notation"),
        ("9;030 1234567;;;Bavaria-West;;;;;;;", "state", "unknown state"),
        ("9;030 1234567;;;;;Atlantis;;;;;", "country", "unknown country"),
        ("9;030 1234567;;;;;;Europe/Bonn;;;;", "timezone", "unknown time zone"),
        ("9;030 1234567;;;;;;;staff;;;", "person_type", "private or business"),
        ("9;030 1234567;;;;;;;;maybe;;", "customer", "yes or no"),
        ("9;030 1234567;;;;;;;;;2024-02-30;", "consent_at", "not a date"),
        ("9;030 1234567;;;;;;;;;yesterday;", "consent_at", "not a date"),
        ("9;030 1234567;;;;;;;;;;de;extra", "M", "beyond the last named column"),
    ],
)
def test_each_bad_value_is_a_row_problem_naming_the_column(row: str, column: str, fragment: str) -> None:
    result = read(HEADER + "1;030 7654321;;;;;;;;;;\n" + row + "\n")
    assert len(result.records) == 1  # the good row
    problem = problem_at(result, 3, column)
    assert fragment in problem.reason
    assert str(problem).startswith(f"row 3, column {column}: ")


def test_every_problem_of_a_row_is_reported() -> None:
    result = read(HEADER + "1;abc;;;Nowhere;;;Mars/Base;staff;maybe;soon;\n")
    columns = {p.column for p in result.problems}
    assert columns == {"phone", "state", "timezone", "person_type", "customer", "consent_at"}
    assert {p.row for p in result.problems} == {2}
    assert result.valid == 0 and result.rows == 1


def test_duplicate_reference_id_is_invalid() -> None:
    result = read("id;phone\nA;030 1111111\nB;030 2222222\nA;030 3333333\n")
    problem = problem_at(result, 4, "id")
    assert "duplicate id 'A' (first in row 2)" in problem.reason
    assert [r.reference for r in result.records] == ["A", "B"]


def test_duplicate_numbers_are_reported_with_the_first_row() -> None:
    text = "id;phone;phone2\n1;030 1234567;\n2;+49 30 1234567;\n3;0171 2345678;(030) 123 45 67\n4;0049 171 2345678;\n"
    result = read(text)
    assert result.ok  # duplicates are not invalid
    # id 4 repeats the mobile of id 3, which was skipped as a duplicate, so id 4 is kept
    assert [r.reference for r in result.records] == ["1", "4"]
    dups = [(d.row, d.first_row, d.phone, d.column) for d in result.duplicates]
    assert dups == [(3, 2, "+49301234567", "phone"), (4, 2, "+49301234567", "phone2")]
    assert "already in row 2" in str(result.duplicates[0])


def test_row_numbers_follow_the_spreadsheet() -> None:
    text = 'id;phone;note\n1;030 1111111;"two\nlines"\n\n3;bad;x\n;;\n5;030 5555555;y\n'
    result = read(text)
    assert problem_at(result, 4, "phone")  # header 1, multi-line record 2, blank 3
    assert [r.row for r in result.records] == [2, 6]
    assert result.records[0].fields["note"] == "two\nlines"
    assert result.rows == 3


def test_record_contents() -> None:
    text = HEADER + "K1;030 1234567;0171 2345678;Anna Schmidt;Nordrhein-Westfalen;40210;;;private;ja;2024-05-01;de\n"
    record = read(text).records[0]
    assert isinstance(record, ContactRecord)
    assert record.reference == "K1"
    assert [p.e164 for p in record.phones] == ["+49301234567", "+491712345678"]
    assert (record.name, record.state, record.state_source) == ("Anna Schmidt", "NW", "column")
    assert (record.country, record.timezone) == ("DE", "Europe/Berlin")
    assert (record.person_type, record.customer, record.language) == ("private", True, "de")
    # a date alone = start of that day in the contact's time zone
    assert record.consent_at == dt.datetime(2024, 4, 30, 22, 0, tzinfo=UTC)


def test_state_from_postcode_only_where_certain() -> None:
    result = read("phone;postcode\n030 1111111;10115\n030 2222222;01067\n030 3333333;1067\n")
    states = [(r.state, r.state_source, r.postcode) for r in result.records]
    assert states == [("BE", "postcode", "10115"), (None, None, "01067"), (None, None, "01067")]
    assert any("read as 01067" in n.reason for n in result.notes)


def test_timezone_column_overrides_and_ambiguous_zone_is_noted() -> None:
    result = read("phone;timezone\n+1 212 555 1234;america/chicago\n+1 800 555 1234;\n")
    assert [r.timezone for r in result.records] == ["America/Chicago", "America/Adak"]
    note = next(n for n in result.notes if n.row == 3)
    assert note.column == "phone" and "time zones" in note.reason


def test_country_column_and_foreign_state() -> None:
    result = read("phone;country;state\n+43 1 5123456;Österreich;Wien\n030 1234567;DE;BY\n+43 1 5123457;AT;NW\n")
    assert [(r.country, r.state) for r in result.records] == [("AT", "9"), ("DE", "BY")]
    assert "subdivision code of AT" in problem_at(result, 4, "state").reason


def test_business_and_consent_formats() -> None:
    text = (
        "phone;person_type;customer;consent_at;consent_source\n"
        "030 1111111;Business;yes;2024-05-01T10:00;web form\n"
        "030 2222222;geschäftlich;no;01.05.2024 10:00;call\n"
        "030 3333333;B2C;;2024-05-01T10:00:00Z;\n"
        "030 4444444;;;2024-05-01T10:00+02:00;\n"
    )
    records = read(text).records
    assert [r.person_type for r in records] == ["business", "business", "private", None]
    assert [r.customer for r in records] == [True, False, False, False]
    assert records[0].consent_at == dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # local time Berlin (CEST)
    assert records[1].consent_at == dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert records[2].consent_at == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert records[3].consent_at == dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert records[0].consent_source == "web form"


def test_parse_consent_edges() -> None:
    assert parse_consent("2024-01-15", "Europe/Berlin") == dt.datetime(2024, 1, 14, 23, 0, tzinfo=UTC)
    assert parse_consent("2024-01-15", "America/New_York") == dt.datetime(2024, 1, 15, 5, 0, tzinfo=UTC)
    assert parse_consent("2024-01-15", None) == dt.datetime(2024, 1, 15, tzinfo=UTC)
    assert parse_consent("15.1.2024", "Europe/Berlin") == dt.datetime(2024, 1, 14, 23, 0, tzinfo=UTC)
    for bad in ("", "2024-13-01", "31.02.2024", "tomorrow", "2024/01/15"):
        assert parse_consent(bad, "Europe/Berlin") is None


# --------------------------------------------------------------------------- mapping


def test_mapping_renames_columns_and_problems_name_the_file_column() -> None:
    text = "Kundennr;Telefon;Bundesland;Segment\n7;030 1234567;Bayern;A\n8;kaputt;Hessen;B\n"
    result = read(text, mapping={"Kundennr": "id", "Telefon": "phone", "bundesland": "state"})
    record = result.records[0]
    assert (record.reference, record.phones[0].e164, record.state) == ("7", "+49301234567", "BY")
    assert record.fields == {"Segment": "A"}
    assert problem_at(result, 3, "Telefon")


def test_mapping_of_a_missing_column() -> None:
    result = read("phone\n030 1234567\n", mapping={"Tel": "phone"})
    assert problem_at(result, 1, "Tel").reason == "column named in the mapping is not in the file"
    assert not result.records


def test_mapping_to_a_sample_field() -> None:
    result = read("phone;Alter\n030 1234567;42\n", mapping={"Alter": "age"})
    assert result.records[0].fields == {"age": "42"}


def test_columns_match_case_insensitively() -> None:
    record = read("ID;Phone;NAME\n1;030 1234567;Anna\n").records[0]
    assert (record.reference, record.name) == ("1", "Anna")


# --------------------------------------------------------------------------- XLSX


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("second").append(["ignored"])
    workbook.save(path)
    return path


def test_xlsx(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "sample.xlsx", [
        ["id", "phone", "name", "postcode", "consent_at", "customer", "score"],
        [1, 301234567, "Jörg", 10115, dt.datetime(2024, 5, 1), True, 2.5],
        [],
        [3, "0171 2345678", "Ümit", "80331", dt.datetime(2024, 5, 1, 14, 30), False, 7],
        [4, "kaputt", None, None, None, None, None],
    ])
    result = read_sample(path, filename=path.name)
    assert result.format == "xlsx" and result.encoding is None
    assert [r.row for r in result.records] == [2, 4]
    first, second = result.records
    assert (first.reference, first.phones[0].e164, first.name) == ("1", "+49301234567", "Jörg")
    assert (first.postcode, first.state, first.customer) == ("10115", "BE", True)
    assert first.consent_at == dt.datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    assert first.fields == {"score": "2.5"}
    assert second.consent_at == dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert (second.state, second.customer, second.fields["score"]) == ("BY", False, "7")
    assert problem_at(result, 5, "phone")


def test_xlsx_from_an_open_file_with_mapping(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "liste.xlsx", [["Tel", "Land"], ["+43 1 5123456", "AT"]])
    with path.open("rb") as handle:
        result = read_sample(handle, filename="liste.xlsx", mapping={"Tel": "phone", "Land": "country"})
        assert not handle.closed
    assert result.records[0].country == "AT"


def test_xlsx_without_phone_column(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "s.xlsx", [["id", "name"], [1, "x"]])
    assert read_sample(path, filename="s.xlsx").problems[0].row == 1


# --------------------------------------------------------------------------- API details


def test_sources_path_text_and_binary_streams(tmp_path: Path) -> None:
    text = "phone\n030 1234567\n"
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    for source in (path, str(path), io.BytesIO(text.encode()), io.StringIO(text)):
        result = read_sample(source, filename="s.csv")
        assert result.valid == 1, source


def test_progress_and_streaming() -> None:
    lines = "".join(f"{i};030 {1000000 + i}\n" for i in range(2500))
    seen: list[int] = []
    got: list[ContactRecord] = []
    result = read("id;phone\n" + lines, progress=seen.append, on_record=got.append)
    assert seen == [1000, 2000, 2500]
    assert len(got) == 2500 and result.records == [] and result.valid == 2500


def test_default_region() -> None:
    record = read("phone\n01 5123456\n", default_region="AT").records[0]
    assert (record.phones[0].e164, record.country, record.timezone) == ("+4315123456", "AT", "Europe/Vienna")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), name=st.sampled_from(["s.csv", "s.xlsx", "s.txt"]))
def test_never_raises_on_garbage(data: bytes, name: str) -> None:
    result = read_sample(data, filename=name)
    assert result.problems or result.valid > 0  # either something was read or we were told why


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=5), max_size=6))
def test_never_raises_on_odd_csv(rows: list[list[str]]) -> None:
    text = "id;phone;state;consent_at;customer\n" + "\n".join(";".join(r) for r in rows)
    result = read(text)
    assert result.valid == len(result.records)
    assert all(p.row >= 0 for p in result.problems)
