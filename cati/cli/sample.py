"""``cati sample import|due|explain|erase`` and ``cati dnc import``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
from pathlib import Path

from .env import CommandError, command_env, positive_int, read_yaml_mapping, run
from .progress import Progress


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sample", help="import and inspect the sample of a study", parents=parents)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="import contacts (CSV or XLSX); all or nothing", parents=parents)
    imp.add_argument("slug", metavar="SLUG", help="the study's slug")
    imp.add_argument("file", type=Path, metavar="FILE", help="the sample: .csv or .xlsx")
    imp.add_argument("--map", type=Path, metavar="MAP.yaml", help="YAML mapping: file column -> our column")
    imp.add_argument("--default-region", type=_region, default="DE", metavar="CC",
                     help="region for numbers without +country (default DE)")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows, report the others")
    imp.set_defaults(func=lambda args: run(_import, args))

    due = actions.add_parser("due", help="the cases that may be called at a moment, in delivery order",
                             parents=parents)
    due.add_argument("slug", metavar="SLUG", help="the study's slug")
    due.add_argument("--at", type=_moment, metavar="ISO-DATETIME", help="default: now; without offset: UTC")
    due.add_argument("--limit", type=positive_int, default=100, metavar="N", help="at most N cases (default 100)")
    due.add_argument("--format", choices=["text", "json"], default="text")
    due.set_defaults(func=lambda args: run(_due, args))

    explain = actions.add_parser("explain", help="whether a case may be called, why not, and when next",
                                 parents=parents)
    explain.add_argument("slug", metavar="SLUG", help="the study's slug")
    explain.add_argument("case", metavar="CASE", help="the case's reference")
    explain.add_argument("--at", type=_moment, metavar="ISO-DATETIME", help="default: now; without offset: UTC")
    explain.add_argument("--format", choices=["text", "json"], default="text")
    explain.set_defaults(func=lambda args: run(_explain, args))

    erase = actions.add_parser("erase", help="erase the contact data of cases (GDPR Art. 17); answers stay",
                               parents=parents)
    erase.add_argument("slug", metavar="SLUG", help="the study's slug")
    erase.add_argument("refs", nargs="*", metavar="REF", help="case references")
    erase.add_argument("--file", type=Path, metavar="REFS.txt", help="more references, one per line")
    erase.add_argument("--dnc", action="store_true", help="first add the numbers to the do-not-call list")
    erase.add_argument("--reason", default="", help="recorded in the audit trail; no name or number")
    erase.add_argument("--by", metavar="LOGIN", help="the user recorded as having erased (default: none)")
    erase.set_defaults(func=lambda args: run(_erase, args))

    dnc = subparsers.add_parser("dnc", help="the global do-not-call list", parents=parents)
    dnc_actions = dnc.add_subparsers(dest="action", metavar="ACTION", required=True)
    dnc_imp = dnc_actions.add_parser("import", help="add numbers (CSV with a phone column, or one per line)",
                                     parents=parents)
    dnc_imp.add_argument("file", type=Path, metavar="FILE", help="a CSV with a phone column, or one number per line")
    dnc_imp.add_argument("--default-region", type=_region, default="DE", metavar="CC",
                         help="region for numbers without +country (default DE)")
    dnc_imp.set_defaults(func=lambda args: run(_dnc_import, args))


#: The moments ``--at`` accepts: the scheduler looks a year ahead and converts to local times.
AT_YEARS = (1900, 9998)


def _moment(text: str) -> dt.datetime:
    """ISO 8601 date-time; a value without offset is taken as UTC (documented in docs/cli.md).
    A date alone is refused: midnight UTC is rarely what was meant."""
    example = "e.g. 2026-11-24T10:00:00+01:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r} ({example})") from None
    with contextlib.suppress(ValueError):
        dt.date.fromisoformat(text)
        raise argparse.ArgumentTypeError(f"{text!r} is a date without a time of day ({example})")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        year = moment.astimezone(dt.UTC).year
    except OverflowError:
        year = 0
    if not AT_YEARS[0] <= year <= AT_YEARS[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: out of range (years {AT_YEARS[0]} to {AT_YEARS[1]})")
    return moment


def _region(text: str) -> str:
    """A region code of the phone number library (``DE``, ``AT``, ``CH`` ...), any case."""
    import phonenumbers

    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise argparse.ArgumentTypeError(f"unknown region {text!r} (a country code such as DE, AT or CH)")
    return region


def _field_study(env, slug: str):  # type: ignore[no-untyped-def]
    from cati.services.studies import get_study

    study = get_study(env.session, slug)
    if study is None:
        raise CommandError(f"study {slug!r} not found")
    return study


def _due(args: argparse.Namespace) -> int:
    from cati.models.meta import utcnow
    from cati.services.scheduler import due_cases

    at = args.at or utcnow()
    with command_env(args.config) as env:
        study = _field_study(env, args.slug)
        due = due_cases(env.session, study, at, limit=args.limit)
        env.tm.doom()  # read-only
    if args.format == "json":
        print(json.dumps([{"case": d.ref, "priority": d.priority, "local_time": d.local_time.isoformat(),
                           "reason": d.reason} for d in due]))
    else:
        for d in due:
            print(f"{d.ref}\t{d.priority}\t{d.local_time:%Y-%m-%d %H:%M %Z}\t{d.reason}")
        shown = f" (first {args.limit})" if len(due) == args.limit else ""
        print(f"{len(due)} cases due at {at.isoformat()}{shown}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from cati.models.meta import utcnow
    from cati.services.scheduler import explain_case, find_case

    at = args.at or utcnow()
    with command_env(args.config) as env:
        study = _field_study(env, args.slug)
        case = find_case(env.session, study, args.case)
        if case is None:
            raise CommandError(f"case {args.case!r} not found in study {args.slug!r}")
        result = explain_case(env.session, study, case, at)
        env.tm.doom()  # read-only
    nxt = result.next_callable_at.isoformat() if result.next_callable_at else None
    if args.format == "json":
        print(json.dumps({"case": args.case, "callable": result.callable, "reasons": result.reasons,
                          "next_callable_at": nxt}))
    else:
        print(f"{args.case}: {'may be called' if result.callable else 'may not be called'} at {at.isoformat()}")
        for reason in result.reasons:
            print(f"  - {reason}")
        if not result.callable:
            print(f"  next callable: {nxt or 'not foreseeable'}")
    return 0


def _erase_refs(args: argparse.Namespace) -> list[str]:
    refs = list(args.refs)
    if args.file is not None:
        try:
            refs += [line.strip() for line in args.file.read_text(encoding="utf-8-sig").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{args.file}: cannot read: {exc}") from None
    refs = [r for r in refs if r and not r.startswith("#")]
    if not refs:
        raise CommandError("give case references (REF ... or --file REFS.txt)")
    return refs


def _erase(args: argparse.Namespace) -> int:
    from cati.services.erasure import ErasureError, erase_contacts, find_cases
    from cati.services.export_jobs import export_dir
    from cati.services.users import UserError, get_user

    refs = _erase_refs(args)
    with command_env(args.config) as env:
        study = _field_study(env, args.slug)
        try:
            actor = get_user(env.session, args.by) if args.by else None
        except UserError as exc:
            raise CommandError(f"--by: {exc}") from None
        try:
            cases = find_cases(env.session, study, refs)
            done = erase_contacts(env.session, study, cases, actor_id=actor.id if actor else None,
                                  reason=args.reason, do_not_call=args.dnc, dnc_salt=env.settings["cati.dnc_salt"],
                                  export_directory=export_dir(env.settings))
        except ErasureError as exc:
            raise CommandError(str(exc)) from None
        for e in done:
            if e.already:
                print(f"{e.ref}: erased before, nothing to do")
                continue
            extra = [f"{e.numbers} numbers" + (" added to the do-not-call list" if e.dnc else "")]
            if e.notes_blanked:
                extra.append(f"{e.notes_blanked} attempt notes blanked")
            if e.sample_values_removed:
                extra.append(f"{e.sample_values_removed} contact values removed from the interview")
            if e.pii_answers_removed:
                extra.append(f"{e.pii_answers_removed} personal answers removed")
            print(f"{e.ref}: contact data erased ({', '.join(extra)}); the case is never called again")
            if e.audit_events_with_contact_data:
                print(f"{e.ref}: note: {e.audit_events_with_contact_data} earlier contact corrections in the "
                      "audit trail keep the old and new values (the trail cannot be changed)")
        erased = sum(not e.already for e in done)
    print(f"{erased} cases erased in study {args.slug}, {len(done) - erased} erased before")
    return 0


def _read_map(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    from cati.sampling.reader import column_map

    try:
        return column_map(read_yaml_mapping(path), str(path))
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _import(args: argparse.Namespace) -> int:
    from cati.services.sample_import import import_sample
    from cati.services.studies import get_study

    mapping = _read_map(args.map)
    if not args.file.exists():
        raise CommandError(f"{args.file}: file not found")
    progress = Progress(f"reading {args.file.name}")
    with command_env(args.config) as env:
        study = get_study(env.session, args.slug)
        if study is None:
            raise CommandError(f"study {args.slug!r} not found")
        try:
            report = import_sample(env.session, study, args.file, filename=str(args.file), mapping=mapping,
                                   default_region=args.default_region, skip_invalid=args.skip_invalid,
                                   dnc_salt=env.settings["cati.dnc_salt"], progress=progress)
        finally:
            progress.close()
        for line in report.lines():
            print(line)
        print(report.summary())
        if not report.committed:  # rolls back; the report above names every problem
            count = len(report.problems)
            raise CommandError(f"{args.file}: {count} problem{'s' * (count != 1)}; nothing imported")
    return 0


def _dnc_numbers(path: Path, region: str) -> tuple[list[str], list[str]]:
    """A CSV with a ``phone`` column (problems name the row, numbered as a spreadsheet shows it,
    and the column), or a text file with one number per line. Encodings as in a sample file:
    UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    import csv
    import io

    from cati.sampling.phones import check_phone
    from cati.sampling.reader import detect_encoding

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from None
    encoding, problem = detect_encoding(io.BytesIO(data))
    if problem:
        raise CommandError(f"{path}: {problem}")
    text = data.decode(encoding or "utf-8").lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in (";", "\t", ",") if d in first), ",")
    header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter), [])]
    if "phone" in header:
        column = header.index("phone")
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        entries = [((row[column] if column < len(row) else ""), f"row {number}, column phone")
                   for number, row in enumerate(rows, start=1) if number > 1]
    else:
        entries = [(line, f"line {number}") for number, line in enumerate(text.splitlines(), start=1)]
    numbers, problems = [], []
    for value, where in ((v.strip(), w) for v, w in entries):
        if not value:
            continue  # a row without a number adds nothing
        phone, reason = check_phone(value, region)
        if phone is None:
            problems.append(f"{path}: {where}: {reason}: {value!r}")
        else:
            numbers.append(phone.e164)
    if not numbers and not problems:
        raise CommandError(f"{path}: no numbers in the file; nothing added")
    return numbers, problems


def _dnc_import(args: argparse.Namespace) -> int:
    from cati.services.dnc import add_numbers

    numbers, problems = _dnc_numbers(args.file, args.default_region)
    if problems:
        for line in problems:
            print(line)
        raise CommandError(f"{args.file}: {len(problems)} invalid number{'s' * (len(problems) != 1)}; nothing added")
    with command_env(args.config) as env:
        added, blocked = add_numbers(env.session, numbers, salt=env.settings["cati.dnc_salt"],
                                     source=args.file.name)
    print(f"{args.file}: {added} numbers added to the do-not-call list ({len(numbers) - added} already there); "
          f"{blocked} cases blocked")
    return 0
