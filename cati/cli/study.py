"""``cati study create|publish|set``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .env import CommandError, command_env, read_yaml_mapping, run

# Kept here (not imported from cati.models) so `cati --help` and `cati check` start without SQLAlchemy.
PURPOSES = ("research", "customer_satisfaction", "telemarketing")


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("study", help="create studies and change their fieldwork settings", parents=parents)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a study (status draft); prints its slug", parents=parents)
    create.add_argument("--questionnaire", required=True, type=Path, metavar="FILE")
    create.add_argument("--name", metavar="SLUG", help="the study's slug (default: the questionnaire id)")
    create.add_argument("--title", help="display name (default: the questionnaire title)")
    create.add_argument("--purpose", default="research", choices=PURPOSES)
    create.add_argument("--client", help="client organisation that commissioned the study")
    create.add_argument("--settings", type=Path, metavar="FILE", help="YAML mapping of fieldwork settings")
    create.set_defaults(func=lambda args: run(_create, args))

    publish = actions.add_parser("publish", help="publish a new questionnaire version", parents=parents)
    publish.add_argument("slug", metavar="SLUG", help="the study's slug")
    publish.add_argument("--questionnaire", required=True, type=Path, metavar="FILE")
    publish.set_defaults(func=lambda args: run(_publish, args))

    setter = actions.add_parser("set", help="change fieldwork settings (KEY=VALUE ...)", parents=parents)
    setter.add_argument("slug", metavar="SLUG", help="the study's slug")
    setter.add_argument("changes", nargs="+", metavar="KEY=VALUE")
    setter.set_defaults(func=lambda args: run(_set, args))


def _read_text(path: Path) -> str:
    from cati.questionnaires.compiler import read_source

    text, problem = read_source(path)
    if problem:
        raise CommandError(str(problem))
    return text


def _settings_file(path: Path) -> dict[str, str]:
    data = read_yaml_mapping(path)
    if not data:
        raise CommandError(f"{path}: expected a mapping of setting names to values")
    return {str(k): "null" if v is None else str(v) for k, v in data.items()}


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"{pair!r}: write KEY=VALUE", status=2)
        if key in changes:  # which one was meant?
            raise CommandError(f"{key}: given twice ({key}={changes[key]} and {pair})", status=2)
        changes[key] = value
    return changes


def _create(args: argparse.Namespace) -> int:
    from cati.services.studies import StudyError, create_study, update_settings

    source = _read_text(args.questionnaire)
    settings = _settings_file(args.settings) if args.settings else {}
    with command_env(args.config) as env:
        try:
            study = create_study(env.session, source=source, source_name=str(args.questionnaire), slug=args.name,
                                 name=args.title, purpose=args.purpose, client=args.client)
        except StudyError as exc:
            raise CommandError("\n".join(exc.problems)) from None
        try:
            if settings:
                update_settings(env.session, study, settings)
        except StudyError as exc:
            raise CommandError("\n".join(f"{args.settings}: {problem}" for problem in exc.problems)) from None
        print(study.slug)
    return 0


def _study(env, slug: str):  # type: ignore[no-untyped-def]
    from cati.services.studies import get_study

    study = get_study(env.session, slug)
    if study is None:
        raise CommandError(f"study {slug!r} not found")
    return study


def _publish(args: argparse.Namespace) -> int:
    from cati.services.studies import StudyError, publish_version

    source = _read_text(args.questionnaire)
    with command_env(args.config) as env:
        study = _study(env, args.slug)
        try:
            version = publish_version(env.session, study, source=source, source_name=str(args.questionnaire))
        except StudyError as exc:
            raise CommandError("\n".join(exc.problems)) from None
        print(f"{study.slug}: published version {version.version}")
    return 0


def _set(args: argparse.Namespace) -> int:
    from cati.services.studies import StudyError, update_settings

    changes = _parse_pairs(args.changes)
    with command_env(args.config) as env:
        study = _study(env, args.slug)
        try:
            update_settings(env.session, study, changes)
        except StudyError as exc:
            raise CommandError("\n".join(exc.problems)) from None
        print(f"{study.slug}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    return 0
