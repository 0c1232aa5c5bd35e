"""``cati user add NAME --role ROLE [--password-stdin]``."""

from __future__ import annotations

import argparse
import getpass
import sys

from .env import CommandError, command_env, run

# Kept here (not imported from cati.models) so `cati --help` and `cati check` start without SQLAlchemy.
ROLES = ("admin", "researcher", "supervisor", "interviewer", "client")


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("user", help="manage users", parents=parents)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user", parents=parents)
    add.add_argument("name", help="login name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--display-name", help="full name shown in the UI (default: the login name)")
    add.add_argument("--first-name", help="first name read out to respondents as {$interviewer}")
    add.add_argument("--client", help="client organisation (required for role client)")
    add.add_argument("--locale", choices=["de", "en"])
    add.set_defaults(func=lambda args: run(_add, args))


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
