"""Database access for commands: settings from the PasteDeploy INI, one transaction per command.

Commands do not build the whole WSGI app: they need the validated settings and a session, and
starting faster matters for scripts that call ``cati`` in a loop.
"""

from __future__ import annotations

import argparse
import contextlib
import logging.config
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: `cati check` must start without Pyramid and SQLAlchemy
    import transaction
    from sqlalchemy.orm import Session


class CommandError(Exception):
    """Bad input for a command: printed as ``cati: <message>``, exit status ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class CommandEnv:
    settings: dict[str, Any]
    session: Session
    tm: transaction.TransactionManager
    engine: Any


def _ini_problem(config_path: str, exc: Exception) -> str:
    """One line naming the file, the line where known, and what is wrong with it."""
    import configparser

    if isinstance(exc, UnicodeDecodeError):
        return f"{config_path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02X}); save the file as UTF-8"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{config_path}:{exc.lineno}: a line before the first section header (start the file with [app:main])"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{config_path}:{exc.lineno}: [{exc.section}] {exc.option}: given twice"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{config_path}:{exc.lineno}: section [{exc.section}] given twice"
    if isinstance(exc, configparser.ParsingError):
        lineno, line = exc.errors[0]
        return f"{config_path}:{lineno}: not a 'key = value' line: {line}"
    if isinstance(exc, configparser.InterpolationError):
        return f"{config_path}: [{exc.section}] {exc.option}: bad %(...)s substitution"
    return f"{config_path}: cannot read: {getattr(exc, 'strerror', None) or exc}"


def load_settings(config_path: str) -> dict[str, Any]:
    import configparser

    if os.path.isdir(config_path):
        raise CommandError(f"settings file {config_path!r} is a directory (use -c INI or set CATI_CONFIG)")
    if not os.path.exists(config_path):
        raise CommandError(f"settings file {config_path!r} not found (use -c INI or set CATI_CONFIG)")
    import plaster
    from pyramid.exceptions import ConfigurationError

    from cati.settings import parse_settings

    try:
        open(config_path, "rb").close()  # configparser would skip a file it cannot open, silently
        loader = plaster.get_loader(config_path, protocols=["wsgi"])
        if "app:main" not in loader.get_sections():
            raise CommandError(f"{config_path}: no [app:main] section (is this a PasteDeploy settings file?)")
        raw = loader.get_settings("app:main")
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise CommandError(_ini_problem(config_path, exc)) from None
    # An INI without logging sections is fine.
    with contextlib.suppress(KeyError, ValueError, OSError, RuntimeError, configparser.Error):
        logging.config.fileConfig(config_path, disable_existing_loggers=False)
        _logs_to_stderr()
    try:
        return parse_settings(raw)
    except ConfigurationError as exc:
        raise CommandError(f"{config_path}: {exc}") from None


def _logs_to_stderr() -> None:
    """Standard output carries a command's result (``--format json``: one JSON document and
    nothing else), so a log handler an INI points at ``sys.stdout`` writes to standard error."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)


def open_engine(config_path: str, settings: dict[str, Any]) -> Any:
    """The engine for ``sqlalchemy.url``; a URL SQLAlchemy cannot use is bad input, named as such."""
    from sqlalchemy.exc import ArgumentError

    from cati.db import get_engine

    try:
        return get_engine(settings)
    except (ArgumentError, ImportError) as exc:
        raise CommandError(f"{config_path}: sqlalchemy.url: {exc}") from None


def has_schema(config_path: str, engine: Any) -> bool:
    """Whether the database has been set up by ``cati initdb``; a database that cannot be reached
    is bad input (named as such), not a traceback."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            return bool(inspect(connection).has_table("alembic_version"))
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())
        raise CommandError(f"{config_path}: sqlalchemy.url: cannot connect to the database: {reason}") from None


def _check_database(config_path: str, engine: Any) -> None:
    """Refuse a database without schema; a missing SQLite file is not created (only ``cati
    initdb`` creates databases)."""
    url = engine.url
    initdb = f"create it with `cati -c {config_path} initdb`"
    path = url.database
    file_based = url.get_backend_name() == "sqlite" and path and path != ":memory:" and "uri" not in url.query
    if file_based and not os.path.exists(path):
        raise CommandError(f"{config_path}: sqlalchemy.url: database file {path} not found ({initdb})")
    if not has_schema(config_path, engine):
        raise CommandError(f"{config_path}: the database has no schema ({initdb})")


@contextlib.contextmanager
def command_env(config_path: str) -> Iterator[CommandEnv]:
    """Yield a session inside one transaction: committed if the block ends normally, rolled back
    if it raises — a failed command changes nothing."""
    import transaction

    from cati.db import get_session_factory, get_tm_session

    settings = load_settings(config_path)
    engine = open_engine(config_path, settings)
    tm = transaction.TransactionManager(explicit=True)
    try:
        _check_database(config_path, engine)
        tm.begin()
        session = get_tm_session(get_session_factory(engine), tm)
        try:
            yield CommandEnv(settings, session, tm, engine)
        except BaseException:
            tm.abort()
            raise
        if tm.isDoomed():
            tm.abort()
        else:
            tm.commit()
    finally:
        engine.dispose()


def read_yaml_mapping(path: Any) -> Any:
    """A small YAML mapping (``--settings``, ``--map``) read by the questionnaire's YAML rules
    (duplicate keys are errors; ``no`` and ``01067`` stay text); None for an empty file. A
    problem is bad input, named ``FILE:LINE:COL: message``."""
    from cati.questionnaires.compiler import read_source
    from cati.questionnaires.errors import QuestionnaireError
    from cati.questionnaires.yamlload import load_data

    text, problem = read_source(path)
    if problem:
        raise CommandError(str(problem))
    try:
        return load_data(text, str(path), mapping=True)
    except QuestionnaireError as exc:
        raise CommandError("\n".join(str(p) for p in exc.problems)) from None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (anything else is wrong usage, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def fail(message: str, status: int = 1) -> int:
    print(f"cati: {message}", file=sys.stderr)
    return status


def run(func: Any, args: Any) -> int:
    """Run a command function, turning CommandError into its message and exit status."""
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        return fail(str(exc), exc.status)
