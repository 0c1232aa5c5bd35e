"""The ``cati`` command line (contract: specs/cli.md).

Each subcommand lives in its own module under ``cati.cli`` and exposes ``register(subparsers,
parents)``; it adds its parser with ``parents=parents`` (which carries ``-c/--config``) and sets
``func``, a callable taking the parsed ``args`` and returning the exit status.

Exit codes: 0 success, 1 bad input (nothing changed), 2 wrong usage; commands may define more
(``simulate`` uses 3 for a scripted answer refused by a hard check).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Modules that contribute subcommands, in the order ``cati --help`` lists them.
COMMAND_MODULES = (
    "cati.cli.check",
    "cati.cli.simulate",
    "cati.cli.codebook",
    "cati.cli.initdb",
    "cati.cli.user",
    "cati.cli.study",
    "cati.cli.sample",
    "cati.cli.testdata",
    "cati.cli.export",
)

DEFAULT_CONFIG = "development.ini"


def _config_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="INI",
        default=default,
        help="PasteDeploy settings file (default: $CATI_CONFIG or development.ini)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cati", description="CATI server command line")
    _config_option(parser, os.environ.get("CATI_CONFIG") or DEFAULT_CONFIG)  # set but empty: the default
    # The same option after the subcommand; SUPPRESS keeps it from overwriting the one given before.
    common = argparse.ArgumentParser(add_help=False)
    _config_option(common, argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # subcommand not written yet
        module.register(subparsers, [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`cati simulate ... | head`): nothing is wrong. Point
        # stdout at /dev/null so that the interpreter's last flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
