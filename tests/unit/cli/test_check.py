"""`cati check`: quiet summary on success, FILE:LINE:COL lines and exit 1 otherwise, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from cati.cli import main

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
EBIKE = str(EXAMPLES / "ebike_abo_konzept.yaml")
HAUSTECH = str(EXAMPLES / "haustech_nachkauf.yaml")


def test_valid_files_print_only_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EBIKE, HAUSTECH]) == 0
    out, err = capsys.readouterr()
    assert out == "2 questionnaires OK (83 variables)\n" and err == ""


def test_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EBIKE]) == 0
    assert capsys.readouterr().out == "1 questionnaire OK (45 variables)\n"


def test_problems_one_line_each_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "format: cati/1\nid: t\nversion: 1\ntitle: T\nlanguages: [en]\ndispositions: {COMPLETE: 1}\nflow:\n"
        "- {id: Q1, type: single, text: A, show_iff: x, options: [{code: 1, text: a}]}\n"
        "- {end: NOPE, if: 'true'}\n",
        encoding="utf-8",
    )
    assert main(["check", str(bad), EBIKE]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{bad}:8:35: single question: unknown key 'show_iff' (did you mean 'show_if'?)",
        f"{bad}:9:9: end: 'NOPE' is not a disposition",
    ]
    assert "Traceback" not in err


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "/no/such/file.yaml"]) == 1
    out, _ = capsys.readouterr()
    assert out == "/no/such/file.yaml: cannot read: No such file or directory\n"


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path}: cannot read:")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe junk", ":1:1: not UTF-8 text (byte 0xff); save the file as UTF-8"),
        (b"", ":1:1: the file is empty: expected a questionnaire (a mapping)"),
        (b"- a\n- b\n", ":1:1: a questionnaire must be a mapping of keys (format, id, version, title, ...)"),
        (b"a: [\n", ":2:1: YAML syntax: while parsing a flow node"),
    ],
)
def test_junk_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(content)
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"{path}{expected}")
    assert "Traceback" not in out + err


def test_no_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2
