"""``cati export`` (a data file, written synchronously) and ``cati export-worker`` (builds the
portal's queued exports in the foreground, for deployments that do not run the worker thread in
the web processes)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from .env import CommandError, command_env, run
from .progress import Progress

# Kept here (not imported from cati.exports) so `cati --help` starts without pandas and SQLAlchemy.
FORMATS = ("sav", "zsav", "xlsx", "csv", "sss")
SUFFIXES = {"sav": ".sav", "zsav": ".zsav", "xlsx": ".xlsx", "csv": ".csv", "sss": ".sss"}
INCLUDE = ("complete", "partial", "screened", "test")


def _include(text: str) -> list[str]:
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in INCLUDE]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"{(unknown or [text])[0]!r} is not one of {', '.join(INCLUDE)} (comma-separated)")
    return items


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export", parents=parents, help="export a study's data set (default: completes only, no test data)",
        description="Write the data set of a study. --include takes the groups complete, partial (AAPOR 1.2 "
                    "ends and break-offs with answers) and screened (AAPOR 4.x), plus test, which adds the test "
                    "interviews of those groups. SPSS files come with their .sps syntax beside them.")
    parser.add_argument("slug", metavar="SLUG", help="the study's slug")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="the file to write (a folder: <slug>.<format> inside it)")
    parser.add_argument("--include", type=_include, default=["complete"], metavar="GROUPS",
                        help="complete,partial,screened,test (default: complete)")
    parser.add_argument("--from", dest="since", type=_day, metavar="YYYY-MM-DD",
                        help="only interviews that ended on or after this day (Europe/Berlin)")
    parser.add_argument("--to", dest="until", type=_day, metavar="YYYY-MM-DD",
                        help="only interviews that ended on or before this day (Europe/Berlin)")
    parser.add_argument("--language", choices=("de", "en"), default="de", help="of the sheets and notes")
    parser.add_argument("--labels", action="store_true",
                        help="xlsx: add the data sheet with value labels instead of codes (Daten_Labels)")
    parser.add_argument("--excel-csv", action="store_true",
                        help="csv: for Excel (semicolon, decimal comma, byte-order mark)")
    parser.add_argument("--contacts", action="store_true",
                        help="the contact export: respondent id, contact data and personal variables only")
    parser.set_defaults(func=lambda args: run(_export, args))

    worker = subparsers.add_parser(
        "export-worker", parents=parents, help="build the exports queued in the web portal",
        description="Claim and build queued export jobs (several workers may run at once). Runs until "
                    "interrupted, or with --once until the queue is empty.")
    worker.add_argument("--once", action="store_true", help="build what is queued now, then exit")
    worker.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="how often to look for jobs")
    worker.set_defaults(func=lambda args: run(_worker, args))


def _target(text: str, slug: str, fmt: str) -> Path:
    """The file to write: ``-o`` names it, or a folder for ``<slug>.<format>``. A path ending in
    ``/`` means a folder, which must exist as well."""
    output = Path(text)
    if output.is_dir():
        return output / f"{slug}{SUFFIXES[fmt]}"
    if text.endswith(("/", os.sep)):
        raise CommandError(f"{output}: folder not found")
    if not output.parent.is_dir():
        raise CommandError(f"{output.parent}: folder not found")
    return output if output.suffix else output.with_suffix(SUFFIXES[fmt])


def _export(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from cati.exports import ExportError, write
    from cati.services import audit, exports
    from cati.services.export_jobs import reader
    from cati.services.studies import get_study

    if args.labels and args.format != "xlsx":
        raise CommandError("--labels is for --format xlsx", 2)
    if args.excel_csv and args.format != "csv":
        raise CommandError("--excel-csv is for --format csv", 2)
    file_options = exports.FileOptions(labels=args.labels, excel_csv=args.excel_csv)
    include = ",".join(args.include)
    try:
        selection = exports.Selection.parse_include(include, since=args.since, until=args.until)
    except exports.SelectionError as exc:
        raise CommandError(str(exc), 2) from None
    progress = Progress(f"exporting {args.slug}")
    with command_env(args.config) as env:
        # Read in a snapshot that does not hold SQLite's write lock while the file is built.
        with Session(reader(env.engine)) as read, read.begin():
            study = get_study(read, args.slug)
            if study is None:
                raise CommandError(f"study {args.slug!r} not found")
            target = _target(args.output, study.slug, args.format)
            try:
                built = exports.build(read, study, selection, contacts=args.contacts, language=args.language,
                                      progress=progress)
                paths = write(built.dataset, args.format, target, **file_options.writer_options(args.format))
            except ExportError as exc:
                raise CommandError(f"{args.slug}: {exc}") from None
            except OSError as exc:
                raise CommandError(f"{target}: cannot write: {exc}") from None
            finally:
                progress.close()
            study_id, rows = study.id, built.dataset.n_rows
        audit.record(env.session, "export.contacts_download" if args.contacts else "export.download",
                     study_id=study_id, target=f"study:{args.slug}",
                     details=exports.audit_details(args.format, selection, contacts=args.contacts, via="cli",
                                                   file_options=file_options,
                                                   file=str(paths[0]), rows=rows, language=args.language))
    for path in paths:
        print(path)
    print(f"{rows} interviews exported ({', '.join(selection.groups)}{', with test data' if selection.test else ''})")
    return 0


def _worker(args: argparse.Namespace) -> int:
    import time

    from cati.services.export_jobs import Worker, contact_export_keep, export_dir

    with command_env(args.config) as env:
        env.tm.doom()  # the worker commits its own short transactions
        worker = Worker(env.engine, export_dir(env.settings), contact_keep=contact_export_keep(env.settings))
        print(f"export worker {worker.name}: writing to {worker.directory}")
        while True:
            built = worker.run_all()
            if built:
                print(f"built {built} export{'s' if built != 1 else ''}")
            if args.once:
                return 0
            time.sleep(max(args.poll, 0.1))
