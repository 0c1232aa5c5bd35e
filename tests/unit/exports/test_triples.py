"""Triple-S 2.0 round trips: our metadata + CSV data, read back by a small reader, match the dataset."""

from __future__ import annotations

import csv
import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from cati.exports import build_dataset, write
from cati.exports.dataset import ExportError, ExportInfo, mr_sets
from cati.exports.triples import write_sss

from .helpers import dataset
from .test_spss import _codebook


def read_sss(path):
    """A minimal Triple-S 2.0 (CSV variant) reader: variables with metadata and per-row fields."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own file
    assert root.tag == "sss" and root.get("version") == "2.0"
    record = root.find("survey/record")
    assert record.get("format") == "csv" and record.get("skip") == "1"
    data_path = path.with_name(record.get("href"))
    with data_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    variables = []
    expected_start = 1
    for element in record.findall("variable"):
        position = element.find("position")
        start, finish = int(position.get("start")), int(position.get("finish"))
        assert start == expected_start
        expected_start = finish + 1
        values = element.find("values")
        variables.append(
            {
                "type": element.get("type"),
                "name": element.findtext("name"),
                "label": element.findtext("label"),
                "size": element.findtext("size"),
                "spread": element.find("spread"),
                "values": {v.get("code"): v.text or "" for v in values.findall("value")} if values is not None else {},
                "range": values.find("range").attrib
                if values is not None and values.find("range") is not None
                else None,
                "fields": [r[start - 1 : finish] for r in rows],
            }
        )
    assert all(len(r) == expected_start - 1 for r in rows)
    return root, variables, len(rows)


@pytest.mark.parametrize("layout", ["spread", "bitstring"])
def test_round_trip(simulated, tmp_path, layout):
    ds, _rows = simulated
    paths = write(ds, "sss", tmp_path / "export.sss", multiple=layout)
    assert [p.name for p in paths] == ["export.sss", "export_sss.csv"]
    root, variables, n = read_sss(paths[0])
    assert n == ds.n_rows
    assert root.findtext("survey/title") == ds.info.title
    by_name = {v["name"]: v for v in variables}
    sets = {s.name.lstrip("$"): s for s in mr_sets(ds.variables)}
    in_sets = {name for s in sets.values() for name in s.variables}
    plain = [v for v in ds.variables if v.name not in in_sets]
    assert [v["name"] for v in variables if v["type"] != "multiple" and not v["name"].endswith("_special")] == [
        v.name for v in plain
    ]
    for i, v in enumerate(ds.variables):
        values = [row[i] for row in ds.iter_rows()]
        if v.name in in_sets:
            continue
        sss = by_name[v.name]
        assert sss["label"] == v.label
        got = [f[0] for f in sss["fields"]]
        if v.spss_type == "string":
            assert sss["type"] == "character" and sss["size"] == str(v.width)
            assert got == ["" if x is None else x for x in values]
        elif v.spss_type == "datetime":
            assert sss["type"] == "character"
            assert got == ["" if x is None else x.strftime("%Y-%m-%d %H:%M:%S") for x in values]
        elif v.spss_type == "date":
            assert sss["type"] == "date"
            assert got == [x.strftime("%Y%m%d") if isinstance(x, dt.date) else "" for x in values]
            if v.missing:
                special = by_name[f"{v.name}_special"]
                assert special["type"] == "single"
                assert set(special["values"]) == {str(c) for c in v.missing}
                assert [f[0] for f in special["fields"]] == [str(x) if isinstance(x, int) else "" for x in values]
        elif sss["type"] == "single":
            assert {int(c): label for c, label in sss["values"].items() if int(c) in v.value_labels} == v.value_labels
            assert {int(x) for x in got if x} <= {int(c) for c in sss["values"]}
            assert got == ["" if x is None else str(x) for x in values]
        else:
            assert sss["type"] == "quantity"
            places = int(v.spss_format.split(".")[1])
            assert got == ["" if x is None else f"{x:.{places}f}" if places else str(int(x)) for x in values]
            low, high = float(sss["range"]["from"]), float(sss["range"]["to"])
            assert all(low <= float(x) <= high for x in got if x)
            assert {float(c) for c in sss["values"]} == {float(c) for c in v.value_labels}
    for name, s in sets.items():
        sss = by_name[name]
        assert sss["type"] == "multiple" and sss["label"] == s.label
        assert sss["values"] == {str(c): label for c, label in zip(s.codes, s.category_labels, strict=True)}
        columns = [ds.names.index(m) for m in s.variables]
        for fields, row in zip(sss["fields"], ds.iter_rows(), strict=True):
            dichotomies = [row[c] for c in columns]
            if all(x is None for x in dichotomies):
                assert all(f == "" for f in fields)
                continue
            chosen = {code for code, x in zip(s.codes, dichotomies, strict=True) if x == 1}
            if layout == "spread":
                assert sss["spread"].get("subfields") == str(len(s.codes))
                assert [int(f) for f in fields if f] == sorted(chosen)
            else:
                assert len(fields) == max(s.codes)
                assert {i for i, f in enumerate(fields, start=1) if f == "1"} == chosen


def test_xml_is_escaped(tmp_path):
    info = ExportInfo(study="A&B <Studie>", title='"Titel" & <mehr>\x01')
    ds = build_dataset({1: _codebook()}, [{"T": "<&>"}], info=info)
    (meta, data) = write_sss(ds, tmp_path / "x.sss")
    root = ET.parse(meta).getroot()  # noqa: S314 - our own file
    assert root.findtext("user") == "A&B <Studie>"
    assert root.findtext("survey/title") == '"Titel" & <mehr>'
    assert meta.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<&>" in data.read_text(encoding="utf-8")


def test_unknown_layout_is_refused(tmp_path):
    ds, _ = dataset("ebike", count=5)
    with pytest.raises(ExportError, match="spread"):
        write_sss(ds, tmp_path / "x.sss", multiple="grid")
