"""The progress line: drawn on standard error when that is a terminal, silent otherwise."""

from __future__ import annotations

import io

from cati.cli import main
from cati.cli.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_clears_its_line():
    terminal = _Terminal()
    progress = Progress("reading s.csv", stream=terminal, interval=0)
    progress(1000)
    progress.close()
    assert terminal.getvalue().startswith("\rreading s.csv: 1,000 rows (")
    assert terminal.getvalue().endswith("\r\033[K")


def test_progress_is_silent_when_not_a_terminal():
    pipe = io.StringIO()
    progress = Progress("reading s.csv", stream=pipe, interval=0)
    progress(1000)
    progress.close()
    assert pipe.getvalue() == ""


def test_a_long_command_writes_only_its_report_when_not_on_a_terminal(ini, ebike, tmp_path, capsys):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    sample = tmp_path / "s.csv"
    sample.write_text("id,phone\n" + "".join(f"A{i},030 {1000000 + i}\n" for i in range(2000)))
    capsys.readouterr()
    assert main(["sample", "import", "ebike_abo_konzept", str(sample), "-c", ini]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{sample}: imported: 2000 cases, 0 duplicates skipped, 0 invalid rows\n"
    assert captured.err == ""
