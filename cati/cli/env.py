"""Database access for commands: settings from the PasteDeploy INI, one transaction per command.

Commands do not build the whole WSGI app: they need the validated settings and a session, and
starting faster matters for scripts that call ``cati`` in a loop.
"""

from __future__ import annotations

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


def load_settings(config_path: str) -> dict[str, Any]:
    if not os.path.exists(config_path):
        raise CommandError(f"settings file {config_path!r} not found (use -c INI or set CATI_CONFIG)")
    import plaster
    from pyramid.exceptions import ConfigurationError

    from cati.settings import parse_settings

    with contextlib.suppress(KeyError, ValueError, OSError):  # an INI without logging sections is fine
        logging.config.fileConfig(config_path, disable_existing_loggers=False)
    try:
        return parse_settings(plaster.get_loader(config_path, protocols=["wsgi"]).get_settings("app:main"))
    except ConfigurationError as exc:
        raise CommandError(f"{config_path}: {exc}") from None


@contextlib.contextmanager
def command_env(config_path: str) -> Iterator[CommandEnv]:
    """Yield a session inside one transaction: committed if the block ends normally, rolled back
    if it raises — a failed command changes nothing."""
    import transaction

    from cati.db import get_engine, get_session_factory, get_tm_session

    settings = load_settings(config_path)
    engine = get_engine(settings)
    tm = transaction.TransactionManager(explicit=True)
    try:
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


def fail(message: str, status: int = 1) -> int:
    print(f"cati: {message}", file=sys.stderr)
    return status


def run(func: Any, args: Any) -> int:
    """Run a command function, turning CommandError into its message and exit status."""
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        if not str(exc):  # the command has said what went wrong already
            return exc.status
        return fail(str(exc), exc.status)
