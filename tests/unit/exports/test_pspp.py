"""A third-party reader: GNU PSPP opens the exported .sav, shows value labels and treats DK/REF as
missing; running our .sps through PSPP embeds the multiple-response sets.

PSPP comes from Debian (``apt-get install --no-install-recommends pspp``; ``make test`` installs
it). Without it the tests are skipped on a workstation but fail on CI (``CI`` set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pyreadstat
import pytest

from cati.exports import build_dataset
from cati.exports.spss import embed_mr_sets, write_sav
from cati.questionnaires.engine import Engine

from .helpers import load, simulate


def require_pspp() -> str:
    found = shutil.which("pspp")
    if found:
        return found
    message = "pspp is missing (apt-get install --no-install-recommends pspp)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the PSPP check")
    pytest.skip(message)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, list[dict]]:
    q = load("kundendienst")
    engine = Engine(q)
    rows = list(simulate(engine, 250, seed=11))
    rows[0]["N1"], rows[1]["N1"], rows[2]["Z3"] = 98, 99, 98  # make sure DK and REF occur
    ds = build_dataset({q.version: engine.codebook()}, rows)
    folder = tmp_path_factory.mktemp("pspp")
    write_sav(ds, folder / "kd.sav")
    return folder, ds, rows


def run_pspp(folder: Path, syntax: str) -> str:
    pspp = require_pspp()
    (folder / "check.sps").write_text(syntax, encoding="utf-8")
    result = subprocess.run(
        [pspp, "-O", "format=txt", "-o", "out.txt", "check.sps"],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert "warning" not in (result.stderr + result.stdout).lower(), result.stderr + result.stdout
    return (folder / "out.txt").read_text(encoding="utf-8")


def table(output: str, title: str) -> list[str]:
    """The lines of the frequency table whose title starts with ``title``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title) and "|" not in line)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def section(lines: list[str], first: str, until: str) -> str:
    start = next(i for i, line in enumerate(lines) if line.startswith(f"|{first}"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(f"|{until}"))
    return "\n".join(lines[start:end])


def test_pspp_shows_labels_and_lists_specials_as_missing(export):
    folder, _ds, rows = export
    output = run_pspp(
        folder,
        "GET FILE='kd.sav'.\nDISPLAY DICTIONARY.\nFREQUENCIES /VARIABLES=N1 Z3 kanal F1_1.\n",
    )
    # the dictionary: labels, formats, levels and missing values as exported
    assert re.search(r"\|N1 +\| +\d+\|N1 +\|Scale", output)
    assert re.search(r"\|N1 +\|Right +\|F2\.0 +\|F2\.0 +\|98; 99 *\|", output)
    assert re.search(r"\|Z3 +\|Right +\|F2\.0 +\|F2\.0 +\|98 *\|", output)
    assert re.search(r"\|tarif +\|Left +\|A255 ", output)
    assert re.search(r"\|C1_1 +\| +\d+\|C1 Zufriedenheit +\|Ordinal", output)
    # N1: valid values with their labels, don't know and refused among the missing values
    n1 = table(output, "N1 Weiterempfehlung")
    valid = section(n1, "Valid", "Missing")
    missing = section(n1, "Missing", "Total")
    assert "äußerst" in valid
    assert "weiß nicht" in missing and "keine Angabe" in missing
    assert "weiß nicht" not in valid
    assert re.search(rf"\|Total +\| +{len(rows)}\|", "\n".join(n1))
    asked = sum(1 for row in rows if row.get("N1") is not None)
    assert re.search(rf"\|Missing \. +\| +{len(rows) - asked}\|", missing)  # not asked: system-missing
    z3 = table(output, "Z3 Erinnerung")
    assert "weiß nicht" in section(z3, "Missing", "Total")
    assert "per E-Mail" in "\n".join(table(output, "Kanal des Servicekontakts"))
    f1 = "\n".join(table(output, "F1 Probleme beim Servicekontakt"))
    assert "nicht genannt" in f1 or "genannt" in f1


def test_pspp_runs_the_syntax_and_embeds_mr_sets(export):
    folder, ds, _rows = export
    require_pspp()
    copy = folder / "mr"
    copy.mkdir(exist_ok=True)
    shutil.copy(folder / "kd.sav", copy / "kd.sav")
    shutil.copy(folder / "kd.sps", copy / "kd.sps")
    assert embed_mr_sets(copy / "kd.sav")
    _, before = pyreadstat.read_sav(str(folder / "kd.sav"), user_missing=True)
    _, after = pyreadstat.read_sav(str(copy / "kd.sav"), user_missing=True)
    assert before.mr_sets == {}
    members = [v.name for v in ds.variables if v.mr_set == "$F1"]
    assert after.mr_sets == {
        "F1": {
            "type": "D",
            "is_dichotomy": True,
            "counted_value": 1,
            "label": "F1 Probleme beim Servicekontakt (codiert)",
            "variable_list": members,
        }
    }
    assert after.variable_value_labels == before.variable_value_labels
    assert after.missing_ranges == {
        **before.missing_ranges,
        # long strings: declared by the .sps, written by PSPP in the layout PSPP reads
        "N2": [{"lo": "98", "hi": "98"}, {"lo": "99", "hi": "99"}],
        "X1": [{"lo": "99", "hi": "99"}],
    }
    assert after.variable_measure == before.variable_measure
    assert after.original_variable_types == before.original_variable_types
    assert after.number_rows == before.number_rows
    output = run_pspp(copy, "GET FILE='kd.sav'.\nMRSETS /DISPLAY NAME=ALL.\nDISPLAY DICTIONARY /VARIABLES=N2 X1.\n")
    assert "$F1" in output and "Dichotomies" in output
    assert re.search(r'\|N2 +\|A1000 +\|"98 ', output) and re.search(r'\|X1 +\|A1000 +\|"99 ', output)


def test_without_pspp_embedding_is_skipped(tmp_path):
    assert embed_mr_sets(tmp_path / "x.sav", pspp="no-such-pspp-binary") is False
