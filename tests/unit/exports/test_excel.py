"""Excel round trips: the workbook read back with openpyxl matches the dataset and its codebook."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from cati.exports import build_dataset, write
from cati.exports import excel as excel_module
from cati.exports.excel import ExcelLimitError, codebook_rows, info_rows, write_xlsx

from .helpers import TRICKY, dataset
from .test_spss import _codebook


def excel_value(variable, value):
    """What the dataset value must look like when read back from the sheet."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


def test_round_trip(simulated, tmp_path):
    ds, _rows = simulated
    (path,) = write(ds, "xlsx", tmp_path / "export.xlsx", labels=True)
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Daten", "Daten_Labels", "Codebuch", "Info"]
    for sheet, labels in (("Daten", False), ("Daten_Labels", True)):
        rows = book[sheet].iter_rows(values_only=True)
        assert list(next(rows)) == ds.names
        expected = (
            [excel_value(v, x) for v, x in zip(ds.variables, row, strict=True)] for row in ds.iter_rows(labels=labels)
        )
        count = 0
        for got, want in zip(rows, expected, strict=True):
            assert [*got, *[None] * (len(want) - len(got))] == want  # read-only mode drops trailing blanks
            count += 1
        assert count == ds.n_rows
    codebook = list(book["Codebuch"].iter_rows(values_only=True))
    assert codebook[0][0] == "Variable" and len(codebook) == len(ds.variables) + 1
    for got, want in zip(codebook[1:], codebook_rows(ds), strict=True):
        assert list(got) == [None if x == "" else x for x in want[:-1]]
    info = [tuple(r) for r in book["Info"].iter_rows(values_only=True)]
    assert info == [(k, v) for k, v in info_rows(ds)]
    book.close()


def test_layout_formats_and_text_cells(tmp_path):
    ds, rows = dataset("haustech", count=80, seed=4)
    write_xlsx(ds, tmp_path / "h.xlsx")
    book = openpyxl.load_workbook(tmp_path / "h.xlsx")
    sheet = book["Daten"]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b
    names = ds.names
    start = sheet.cell(row=2, column=names.index("start_ts") + 1)
    assert isinstance(start.value, dt.datetime) and start.number_format == "DD.MM.YYYY HH:MM:SS"
    bought = sheet.cell(row=2, column=names.index("kaufdatum") + 1)
    assert bought.number_format == "DD.MM.YYYY"
    column = names.index("N2") + 1
    texts = [sheet.cell(row=r, column=column) for r in range(2, ds.n_rows + 2)]
    formulas = [c for c in texts if isinstance(c.value, str) and c.value.startswith("=")]
    assert formulas, "the simulation puts formula-like text into N2"
    assert all(c.data_type == "s" for c in formulas)
    assert any(c.value == "#N/A" and c.data_type == "s" for c in texts)
    assert not any(isinstance(c.value, str) and "\x0b" in c.value for c in texts)
    # specials are codes, off-route answers empty
    n1 = [sheet.cell(row=r, column=names.index("N1") + 1).value for r in range(2, ds.n_rows + 2)]
    assert n1 == [row.get("N1") for row in rows]
    assert book["Codebuch"].freeze_panes == "B2"
    book.close()


def test_english_sheet_names(tmp_path):
    ds, _ = dataset("ebike", count=10)
    write_xlsx(ds, tmp_path / "e.xlsx", language="en", labels=True)
    book = openpyxl.load_workbook(tmp_path / "e.xlsx", read_only=True)
    assert book.sheetnames == ["Data", "Data_Labels", "Codebook", "Info"]
    assert next(book["Codebook"].iter_rows(values_only=True))[2] == "Question text"
    assert next(book["Info"].iter_rows(values_only=True))[0] == "Study"
    book.close()


def test_too_many_rows_is_a_clear_error(tmp_path, monkeypatch):
    ds = build_dataset({1: _codebook()}, [{"S": 1}] * 5)
    monkeypatch.setattr(excel_module, "MAX_ROWS", 5)
    with pytest.raises(ExcelLimitError, match="5 interviews do not fit"):
        write_xlsx(ds, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_too_many_columns_is_a_clear_error(tmp_path, monkeypatch):
    ds = build_dataset({1: _codebook()}, [{"S": 1}])
    monkeypatch.setattr(excel_module, "MAX_COLUMNS", 10)
    with pytest.raises(ExcelLimitError, match="variables do not fit"):
        write_xlsx(ds, tmp_path / "x.xlsx")


def test_too_long_text_is_a_clear_error(tmp_path):
    ds = build_dataset({1: _codebook()}, [{"T": "ok"}, {"T": "x" * 32768}])
    with pytest.raises(ExcelLimitError, match=r"T: a text of 32,768 characters \(row 2\)"):
        write_xlsx(ds, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_tricky_texts_survive(tmp_path):
    rows = [{"T": text[:10]} for text in TRICKY]
    ds = build_dataset({1: _codebook()}, rows)
    write_xlsx(ds, tmp_path / "t.xlsx")
    book = openpyxl.load_workbook(tmp_path / "t.xlsx", read_only=True)
    column = ds.names.index("T")
    got = [row[column] for row in book["Daten"].iter_rows(min_row=2, values_only=True)]
    assert got == [ILLEGAL_CHARACTERS_RE.sub("", r["T"]) for r in rows]
    book.close()
