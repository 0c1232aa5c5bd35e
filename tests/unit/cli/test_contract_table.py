"""Every command and option of the table in specs/cli.md exists, with exactly those names and choices."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cati.cli import build_parser

SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "cli.md"


def _table_rows() -> list[str]:
    """The first cell of each command row, ``\\|`` unescaped."""
    return [re.match(r"\| `([^`]*)`", line).group(1).replace("\\|", "|")
            for line in SPEC.read_text().splitlines() if line.startswith("| `cati ")]


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def _parser_for(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of ``cati w1 w2 ...`` and the words of the usage left after the command."""
    parser, rest = build_parser(), list(words)
    while rest and (child := _subparser(parser, rest[0])) is not None:
        parser, rest = child, rest[1:]
    return parser, rest


ROWS = _table_rows() if SPEC.exists() else []


@pytest.mark.skipif(not ROWS, reason="specs/cli.md not found")
@pytest.mark.parametrize("usage", ROWS)
def test_the_table_row_exists_with_its_options_and_choices(usage):
    words = usage.split()[1:]
    command = [w for w in words[:2] if re.fullmatch(r"[a-z-]+", w)]
    parser, _ = _parser_for(command)
    assert parser.prog == "cati " + " ".join(command), f"no command `cati {' '.join(command)}`"
    options = {opt: action for action in parser._actions for opt in action.option_strings}
    for name, choices in re.findall(r"(--?[a-z][a-z-]*)(?: ([a-z_]+(?:\|[a-z_]+)+))?", usage):
        assert name in options, f"`{' '.join(usage.split()[:3])}` has no option {name}"
        if choices and options[name].choices is not None:
            assert set(options[name].choices) >= set(choices.split("|")), (name, options[name].choices)
        elif choices and name != "--include":  # --include takes a comma-separated list (checked below)
            pytest.fail(f"{name} accepts anything, the contract lists {choices}")


def test_the_table_was_read():
    assert len(ROWS) == 14
    assert "cati sample explain SLUG CASE [--at ISO-DATETIME] [--format json]" in ROWS


def test_include_takes_the_contract_groups():
    parser, _ = _parser_for(["export"])
    args = parser.parse_args(["S", "--format", "csv", "-o", "x", "--include", "complete,partial,screened,test"])
    assert args.include == ["complete", "partial", "screened", "test"]


@pytest.mark.parametrize("command", [["sample", "import"], ["sample", "due"], ["sample", "explain"],
                                     ["dnc", "import"], ["user", "add"], ["study", "set"], ["export"], ["testdata"]])
def test_usage_names_the_positionals_as_the_contract_does(command, capsys):
    parser, _ = _parser_for(command)
    usage = parser.format_usage()
    expected = [w for row in ROWS if row.split()[1:1 + len(command)] == command
                for w in row.split()[1 + len(command):] if re.fullmatch(r"[A-Z][A-Z.=]*(\.\.\.)?", w)]
    for word in expected:
        assert word.split(".")[0].split("=")[0] in usage, (word, usage)
