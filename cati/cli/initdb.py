"""``cati initdb [--demo]``: create or upgrade the schema; optionally load the demo."""

from __future__ import annotations

import argparse

from .env import CommandError, command_env, has_schema, load_settings, open_engine, run


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("initdb", help="create or upgrade the database schema", parents=parents)
    parser.add_argument("--demo", action="store_true", help="load demo studies, users and sample; print the logins")
    parser.set_defaults(func=lambda args: run(_initdb, args))


def _initdb(args: argparse.Namespace) -> int:
    from cati.migrate import upgrade

    settings = load_settings(args.config)
    url = settings["sqlalchemy.url"]
    if url.startswith("sqlite:///"):
        from pathlib import Path

        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"{args.config}: sqlalchemy.url: cannot create the folder {folder}: "
                               f"{exc.strerror or exc}") from None
    engine = open_engine(args.config, settings)
    try:
        has_schema(args.config, engine)  # names a database that cannot be reached
        upgrade(engine)
    finally:
        engine.dispose()
    print("database schema is up to date")
    if args.demo:
        from cati.demo import load_demo

        with command_env(args.config) as env:
            logins = load_demo(env.session, dnc_salt=env.settings["cati.dnc_salt"])
        print("demo loaded. Logins (user / password / role):")
        for username, password, role in logins:
            print(f"  {username:<12} {password:<14} {role}")
    return 0
