"""``cati initdb [--demo]``: create or upgrade the schema; optionally load the demo."""

from __future__ import annotations

import argparse

from .env import command_env, load_settings, run


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("initdb", help="create or upgrade the database schema", parents=parents)
    parser.add_argument("--demo", action="store_true", help="load demo studies, users and sample; print the logins")
    parser.set_defaults(func=lambda args: run(_initdb, args))


def _initdb(args: argparse.Namespace) -> int:
    from cati.db import get_engine
    from cati.migrate import upgrade

    settings = load_settings(args.config)
    url = settings["sqlalchemy.url"]
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = get_engine(settings)
    try:
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
