"""CSV round trips: data, codebook and value labels read back with the csv module match the dataset."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd

from cati.exports import build_dataset, write
from cati.exports.csv import CODEBOOK_COLUMNS, EXCEL, VALUE_COLUMNS, write_csv
from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Engine

from .helpers import dataset
from .test_dataset import MINI
from .test_spss import _codebook


def text_of(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def test_round_trip(simulated, tmp_path):
    ds, rows = simulated
    paths = write(ds, "csv", tmp_path / "export.csv")
    assert [p.name for p in paths] == ["export.csv", "export_codebook.csv", "export_values.csv"]
    with paths[0].open(encoding="utf-8", newline="") as handle:
        data = list(csv.reader(handle))
    assert data[0] == ds.names
    assert len(data) - 1 == ds.n_rows == len(rows)
    for got, want in zip(data[1:], ds.iter_rows(), strict=True):
        assert got == [text_of(x) for x in want]
    # the values, parsed as a program would, are the engine's row values
    frame = pd.read_csv(paths[0], dtype=str, keep_default_na=False)
    for row, (_, parsed) in zip(rows, frame.iterrows(), strict=True):
        for v in ds.variables:
            raw = row.get(v.name)
            if v.spss_type == "datetime" and raw:
                raw = raw[:19].replace("T", " ")
            assert parsed[v.name] == ("" if raw is None else str(raw)), v.name
    with paths[1].open(encoding="utf-8", newline="") as handle:
        codebook = list(csv.DictReader(handle))
    assert tuple(codebook[0]) == CODEBOOK_COLUMNS
    assert [c["name"] for c in codebook] == ds.names
    for c, v in zip(codebook, ds.variables, strict=True):
        assert c["label"] == v.label
        assert c["type"] == v.spss_type and c["format"] == v.spss_format and c["measure"] == v.measure
        assert c["width"] == (str(v.width) if v.spss_type == "string" else "")
        assert c["missing"] == " ".join(map(str, v.missing))
        assert c["mr_set"] == (v.mr_set or "")
        assert c["pii"] == "0"
    with paths[2].open(encoding="utf-8", newline="") as handle:
        values = list(csv.DictReader(handle))
    assert tuple(values[0]) == VALUE_COLUMNS
    expected = [
        {"name": v.name, "code": str(code), "label": label, "missing": "1" if code in v.missing else "0"}
        for v in ds.variables
        for code, label in v.value_labels.items()
    ]
    assert values == expected


def test_options_delimiter_bom_and_labels(tmp_path):
    ds, _ = dataset("ebike", count=20)
    data, *_ = write_csv(ds, tmp_path / "e.csv", delimiter=";", bom=True, labels=True)
    raw = data.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with data.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ds.names
    lang = ds.names.index("disposition")
    labels = ds.variable("disposition").value_labels
    assert {r[lang] for r in rows[1:]} <= set(labels.values()) | {""}


def test_text_is_written_exactly(tmp_path):
    rows = [{"T": 'a,"b"\nc'}, {"T": "=1+1"}, {"T": None}, {"T": ""}]
    ds = build_dataset({1: _codebook()}, rows)
    (path, *_rest) = write_csv(ds, tmp_path / "t.csv", codebook=False)
    assert len(_rest) == 0
    with path.open(encoding="utf-8", newline="") as handle:
        got = [r[ds.names.index("T")] for r in list(csv.reader(handle))[1:]]
    assert got == ['a,"b"\nc', "=1+1", "", ""]


def test_excel_variant_semicolon_bom_and_decimal_comma(tmp_path):
    """German Excel splits at ';' and reads '2.5' as 2 May: the variant writes '2,5'."""
    mini = MINI.replace("max: 50,", "max: 50, decimals: 1,")
    book = Engine(load_questionnaire(mini, "mini.yaml")).codebook()
    ds = build_dataset({1: book}, [{"N": 2.5, "T": "Grüße; Übel"}, {"N": 3}, {"N": None}])
    data, codebook_path, values_path = write_csv(ds, tmp_path / "x.csv", **EXCEL)
    assert data.read_bytes().startswith(b"\xef\xbb\xbfresp_id;")
    for path in (codebook_path, values_path):
        assert path.read_bytes().startswith(b"\xef\xbb\xbfname;")
    with data.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ds.names
    n, t = ds.names.index("N"), ds.names.index("T")
    assert [r[n] for r in rows[1:]] == ["2,5", "3", ""]
    assert rows[1][t] == "Grüße; Übel"
    # the plain CSV keeps the point
    (plain,) = write_csv(ds, tmp_path / "p.csv", codebook=False)
    assert [r[n] for r in list(csv.reader(plain.open(encoding="utf-8", newline="")))[1:]] == ["2.5", "3", ""]
