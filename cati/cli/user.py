"""``cati user add NAME --role ROLE [--password-stdin]``; our extensions (docs/cli.md):
``cati user passwd NAME [--password-stdin]``, ``cati user deactivate NAME``, ``cati user activate NAME``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from .env import CommandError, command_env, run

# Kept here (not imported from cati.models) so `cati --help` and `cati check` start without SQLAlchemy.
ROLES = ("admin", "researcher", "supervisor", "interviewer", "client")


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("user", help="manage users", parents=parents)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user", parents=parents)
    add.add_argument("name", metavar="NAME", help="login name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--display-name", help="full name shown in the UI (default: the login name)")
    add.add_argument("--first-name", help="first name read out to respondents as {$interviewer}")
    add.add_argument("--client", help="client organisation (required for role client)")
    add.add_argument("--locale", choices=["de", "en"])
    add.set_defaults(func=lambda args: run(_add, args))
    passwd = actions.add_parser("passwd", help="set a user's password and end their sessions", parents=parents)
    passwd.add_argument("name", metavar="NAME", help="login name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.set_defaults(func=lambda args: run(_passwd, args))
    for action, help_text in (("deactivate", "lock a user out and end their sessions"),
                              ("activate", "let a deactivated user log in again")):
        toggle = actions.add_parser(action, help=help_text, parents=parents)
        toggle.add_argument("name", metavar="NAME", help="login name")
        toggle.set_defaults(func=lambda args: run(_set_active, args))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password: use --password-stdin", status=2)
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CommandError("the passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    from cati.services.users import UserError, create_user

    password = _read_password(args.password_stdin)
    with command_env(args.config) as env:
        try:
            user = create_user(
                env.session,
                args.name,
                role=args.role,
                password=password,
                display_name=args.display_name,
                first_name=args.first_name,
                client=args.client,
                locale=args.locale,
            )
        except UserError as exc:
            raise CommandError(str(exc)) from None
        print(f"created {user.role} {user.username} ({user.code})")
    return 0



def _change(args: argparse.Namespace, change: Any, done: str) -> int:
    """Apply ``change(session, user)`` to the user named by ``args.name``; print ``done``."""
    from cati.services.users import UserError, get_user

    with command_env(args.config) as env:
        try:
            user = get_user(env.session, args.name)
            change(env.session, user)
        except UserError as exc:
            raise CommandError(str(exc)) from None
        print(done.format(user=user.username))
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from cati.services.users import set_password

    password = _read_password(args.password_stdin)
    return _change(args, lambda session, user: set_password(session, user, password),
                   "password of {user} changed; their sessions have ended")


def _set_active(args: argparse.Namespace) -> int:
    from cati.services.users import set_active

    active = args.action == "activate"
    return _change(args, lambda session, user: set_active(session, user, active),
                   "{user} activated" if active else "{user} deactivated; their sessions have ended")
