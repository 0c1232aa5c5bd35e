"""Data exports for download: requested in the portal, built in the request or in the background,
cached until the data change, every download audited.

Request (:func:`request_export`)
    The fingerprint of a request is a digest of the format, the options (groups, test data,
    period, language, and the file options that apply to the format: Excel's labelled data sheet,
    the CSV variant for Excel) and the state of the selected interviews (:func:`exports.data_state
    <cati.services.exports.data_state>`: their count, the sum of their ids and their newest
    ``updated_at``). If a job with that fingerprint is queued, running or done (and its file is
    still there), that job is the answer: an unchanged study is not exported twice. Otherwise a new
    job is queued. Up to ``cati.export_inline_rows`` interviews and ``cati.export_inline_cells``
    cells (interviews x variables) it is built right away in the request (well under a second, and
    the user gets the file at once); larger ones are left to a worker. Contact exports (personal
    data) are never served from the cache.

Workers (:class:`Worker`)
    A worker thread runs inside each web process that sets ``cati.export_worker = true`` (started
    when the app is created), or ``cati export-worker`` runs one on its own. Several may run at once:
    a job is claimed with a guarded ``UPDATE export_jobs SET status='running' ... WHERE id = ? AND
    status = 'queued'``, and only the worker whose UPDATE changed the row builds it. The worker
    reads the interviews in one snapshot (PostgreSQL: REPEATABLE READ; SQLite: a deferred read
    transaction on a separate connection, so the database's write lock is not held while the file
    is built) and writes progress (``done``/``total``) and a heartbeat in short transactions of
    their own. A job whose heartbeat stops (the process died) is queued again after
    :data:`STALE_AFTER`.

Files
    ``<cati.export_dir>/<job id>/``: the writer's files, packed into one zip when a format writes
    several (SPSS: ``.sav`` + ``.sps``; CSV: data, codebook, value labels; Triple-S: ``.sss`` + data).
    A finished job makes earlier finished jobs of the same study, format and options ``expired`` and
    removes their files, so the folder holds one file per kind of request.

Contact exports
    hold names and numbers, so their files are not kept: workers remove them
    ``cati.contact_export_hours`` (default 24) after they were built (storage limitation, GDPR Art.
    5(1)(e)), and erasing contact data removes every contact export of the study at once
    (:func:`expire_contact_exports`), since an older file may hold the erased person.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cati.exports import FORMATS, SUFFIXES, ExportError, write
from cati.models import ExportJob, Study
from cati.models.meta import utcnow

from . import audit, exports
from .exports import FileOptions, Selection, SelectionError

log = logging.getLogger(__name__)

#: A running job whose heartbeat is older than this is given to another worker.
STALE_AFTER = dt.timedelta(minutes=10)
#: Progress is written at most this often (seconds).
PROGRESS_EVERY = 1.0
#: Seconds between a worker's sweeps for contact exports past their time.
SWEEP_EVERY = 60.0
HEARTBEAT_EVERY = 30.0
DEFAULT_INLINE_ROWS = 2000
#: The default of ``cati.export_inline_cells``. An export built in the request runs inside the
#: request's transaction, which on SQLite holds the database's one write lock: every interviewer's
#: answer waits until the file is written. So an inline build is bounded by its size in cells
#: (interviews x variables) too: 50,000 cells take about 0.15 s as .xlsx, the slowest format
#: (3.3 µs a cell, benchmarks/bench_exports.py). Larger files go to a worker, which reads a
#: snapshot without the lock (see :func:`reader`).
INLINE_CELLS = 50_000
LANGUAGES = ("de", "en")
#: What the user downloads, per format.
DOWNLOAD_TYPES = {".zip": "application/zip",
                  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  ".sav": "application/x-spss-sav", ".zsav": "application/x-spss-sav", ".csv": "text/csv"}


#: How long a contact export's file is kept unless ``cati.contact_export_hours`` says otherwise.
CONTACT_EXPORT_KEEP = dt.timedelta(hours=24)


def contact_export_keep(settings: Mapping[str, Any]) -> dt.timedelta:
    hours = settings.get("cati.contact_export_hours")
    return dt.timedelta(hours=int(hours)) if hours else CONTACT_EXPORT_KEEP


def expire_contact_exports(session: Session, directory: Path, *, study_id: int | None = None,
                           built_before: dt.datetime | None = None) -> int:
    """Mark contact exports ``expired`` and remove their files: every one of ``study_id``, also those
    waiting or being built (after an erasure: they may have read the person already; a worker drops
    the result of a job expired under it), or the finished ones built before ``built_before``
    (retention); how many."""
    statuses = ("done",) if built_before is not None else ("queued", "running", "done")
    query = select(ExportJob).where(ExportJob.contacts.is_(True), ExportJob.status.in_(statuses))
    if study_id is not None:
        query = query.where(ExportJob.study_id == study_id)
    if built_before is not None:
        query = query.where(ExportJob.finished_at < built_before)
    jobs = list(session.scalars(query))
    for job in jobs:
        job.status = "expired"
        shutil.rmtree(folder_of(job, directory), ignore_errors=True)
    return len(jobs)


def export_dir(settings: Mapping[str, Any]) -> Path:
    """``cati.export_dir``, or ``./var/exports`` when the setting is empty."""
    return Path(settings.get("cati.export_dir") or "var/exports").resolve()


def job_options(selection: Selection, language: str, file_options: FileOptions | None = None) -> dict[str, Any]:
    return {**selection.to_json(), "language": language, **(file_options or FileOptions()).to_json()}


def job_selection(job: ExportJob) -> Selection:
    return Selection.from_json(job.options or {})


def job_language(job: ExportJob) -> str:
    return (job.options or {}).get("language") or "de"


def job_file_options(job: ExportJob) -> FileOptions:
    """The job's file options that apply to its format (jobs older than them have none)."""
    return FileOptions.from_json(job.options or {}).for_format(job.format)


def fingerprint(fmt: str, selection: Selection, language: str, contacts: bool, state: exports.DataState,
                file_options: FileOptions | None = None) -> str:
    """Equal fingerprints, equal files: the file options count as far as they apply to ``fmt``."""
    options = (file_options or FileOptions()).for_format(fmt)
    return state.digest(fmt, selection.key(), language, contacts, options.to_json())


def folder_of(job: ExportJob, directory: Path) -> Path:
    return directory / str(job.id)


def download_path(job: ExportJob, directory: Path) -> Path | None:
    """The job's finished file, or None (not finished, or its file is gone)."""
    if job.status != "done" or not job.download or "/" in job.download or "\\" in job.download:
        return None
    path = folder_of(job, directory) / job.download
    return path if path.is_file() else None


def content_type(job: ExportJob) -> str:
    return DOWNLOAD_TYPES.get(Path(job.download).suffix, "application/octet-stream")


# --------------------------------------------------------------------------- request


def _cached(session: Session, study: Study, digest: str, directory: Path) -> ExportJob | None:
    jobs = session.scalars(select(ExportJob).where(
        ExportJob.study_id == study.id, ExportJob.fingerprint == digest, ExportJob.contacts.is_(False),
        ExportJob.status.in_(("queued", "running", "done"))).order_by(ExportJob.id.desc()))
    for job in jobs:
        if job.status != "done" or download_path(job, directory) is not None:
            return job
        job.status = "expired"  # the file was removed behind our back
    return None


def request_export(session: Session, study: Study, fmt: str, selection: Selection, *, user_id: int | None,
                   directory: Path, language: str = "de", contacts: bool = False,
                   file_options: FileOptions | None = None,
                   inline_rows: int = DEFAULT_INLINE_ROWS, inline_cells: int = INLINE_CELLS) -> tuple[ExportJob, bool]:
    """The job that answers this request and whether it came from the cache (see module docs)."""
    if fmt not in FORMATS:
        raise SelectionError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if language not in LANGUAGES:
        raise SelectionError(f"unknown language {language!r}")
    file = (file_options or FileOptions()).for_format(fmt)
    state = exports.data_state(session, study, selection)
    digest = fingerprint(fmt, selection, language, contacts, state, file)
    if not contacts:
        cached = _cached(session, study, digest, directory)
        if cached is not None:
            return cached, True
    job = ExportJob(study_id=study.id, requested_by=user_id, format=fmt, options=job_options(selection, language, file),
                    contacts=contacts, fingerprint=digest, status="queued", done=0, total=state.count)
    session.add(job)
    session.flush()
    audit.record(session, "export.contacts_request" if contacts else "export.request", user_id=user_id,
                 study_id=study.id, target=f"export:{job.id}",
                 details=exports.audit_details(fmt, selection, contacts=contacts, file_options=file, job=job.id,
                                               rows=state.count))
    if state.count <= inline_rows and state.count * _width(session, study, selection, contacts) <= inline_cells:
        job.status, job.worker, job.started_at = "running", "inline", utcnow()
        result = produce(session, job, directory)
        finish(session, job, result, directory)
    return job, False


def _width(session: Session, study: Study, selection: Selection, contacts: bool) -> int:
    """How many variables the export has (at least): the widest codebook of the versions its
    interviews were answered with (contact columns included for a contact export)."""
    books = exports.codebooks(session, study, exports.version_ids(session, study, selection), contacts=contacts)
    return max((len(book) for book in books.values()), default=1)


# --------------------------------------------------------------------------- building


@dataclass
class Result:
    ok: bool
    rows: int = 0
    files: tuple[str, ...] = ()
    download: str = ""
    size: int = 0
    error: str = ""
    fingerprint: str = ""


def _package(paths: list[Path], folder: Path, slug: str, fmt: str) -> Path:
    if len(paths) == 1:
        return paths[0]
    target = folder / f"{slug}_{fmt}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
    for path in paths:
        path.unlink()
    return target


def produce(session: Session, job: ExportJob, directory: Path,
            progress: Callable[[int], None] | None = None) -> Result:
    """Read the job's interviews through ``session`` and write its file (nothing in the database
    is changed here: the caller records the :class:`Result` with :func:`finish`)."""
    study = session.get(Study, job.study_id)
    selection = job_selection(job)
    language = job_language(job)
    file = job_file_options(job)
    folder = folder_of(job, directory)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        built = exports.build(session, study, selection, contacts=job.contacts, language=language,
                              progress=progress)
        paths = write(built.dataset, job.format, folder / f"{study.slug}{SUFFIXES[job.format]}",
                      **file.writer_options(job.format))
        download = _package(paths, folder, study.slug, job.format)
    except (ExportError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("export job %s failed: %s", job.id, exc)
        return Result(False, error=str(exc)[:2000])
    return Result(True, rows=built.dataset.n_rows, files=tuple(p.name for p in paths), download=download.name,
                  size=download.stat().st_size,
                  fingerprint=fingerprint(job.format, selection, language, job.contacts, built.state, file))


def finish(session: Session, job: ExportJob, result: Result, directory: Path) -> None:
    """Record the result on the job (in ``session``'s transaction) and retire older files."""
    job.finished_at = job.heartbeat_at = utcnow()
    if not result.ok:
        job.status, job.error = "failed", result.error
        return
    job.status, job.error = "done", ""
    job.files, job.download, job.size = list(result.files), result.download, result.size
    job.done = job.total = result.rows
    if result.fingerprint:
        job.fingerprint = result.fingerprint
    session.flush()
    _supersede(session, job, directory)


def _kind(job: ExportJob) -> tuple[Selection, str, FileOptions]:
    """What makes two jobs of one study, format and contact flag files of the same kind (read from
    the options, so that jobs stored before an option existed compare as its default)."""
    return job_selection(job), job_language(job), job_file_options(job)


def _supersede(session: Session, job: ExportJob, directory: Path) -> None:
    older = session.scalars(select(ExportJob).where(
        ExportJob.study_id == job.study_id, ExportJob.status == "done", ExportJob.format == job.format,
        ExportJob.contacts == job.contacts, ExportJob.id != job.id, ExportJob.id < job.id))
    kind = _kind(job)
    for other in older:
        if _kind(other) == kind:
            other.status = "expired"
            shutil.rmtree(folder_of(other, directory), ignore_errors=True)


# --------------------------------------------------------------------------- downloads


def record_download(session: Session, job: ExportJob, user_id: int | None) -> None:
    """Audit a download (``export.download``): who, which format and options, which file."""
    audit.record(session, "export.contacts_download" if job.contacts else "export.download", user_id=user_id,
                 study_id=job.study_id, target=f"export:{job.id}",
                 details=exports.audit_details(job.format, job_selection(job), contacts=job.contacts,
                                               file_options=job_file_options(job), job=job.id,
                                               language=job_language(job), file=job.download, size=job.size,
                                               rows=job.total))


def recent_jobs(session: Session, study: Study, *, contacts: bool = False, limit: int = 12) -> list[ExportJob]:
    """The study's latest jobs, newest first (contact exports only when ``contacts``)."""
    query = select(ExportJob).where(ExportJob.study_id == study.id, ExportJob.status != "expired")
    if not contacts:
        query = query.where(ExportJob.contacts.is_(False))
    return list(session.scalars(query.order_by(ExportJob.id.desc()).limit(limit)))


def get_job(session: Session, study: Study, job_id: int) -> ExportJob | None:
    job = session.get(ExportJob, job_id)
    return job if job is not None and job.study_id == study.id else None


# --------------------------------------------------------------------------- workers


_readers: dict[str, Engine] = {}
_readers_lock = threading.Lock()


def reader(engine: Engine) -> Engine:
    """An engine whose transactions read one snapshot without taking the write lock.

    SQLite: ``cati.db`` begins every transaction with ``BEGIN IMMEDIATE`` (the write lock, so
    writers queue instead of deadlocking); an export that reads for a minute must not block the
    interviewers, so the worker reads through its own engine with deferred ``BEGIN`` (WAL gives it
    a consistent snapshot). PostgreSQL: the same pool, REPEATABLE READ.
    """
    if engine.dialect.name != "sqlite":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    url = engine.url.render_as_string(hide_password=False)
    with _readers_lock:
        if url not in _readers:
            read_engine = create_engine(engine.url)

            @event.listens_for(read_engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None
                dbapi_connection.execute("PRAGMA busy_timeout = 15000")

            @event.listens_for(read_engine, "begin")
            def _begin(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN")

            _readers[url] = read_engine
        return _readers[url]


def requeue_stale(engine: Engine, *, now: dt.datetime | None = None, stale_after: dt.timedelta = STALE_AFTER) -> int:
    """Queue running jobs again whose worker stopped sending heartbeats."""
    cutoff = (now or utcnow()) - stale_after
    with Session(engine) as session, session.begin():
        result = session.execute(update(ExportJob).where(ExportJob.status == "running",
                                                         ExportJob.heartbeat_at < cutoff)
                                 .values(status="queued", worker="", done=0))
        return result.rowcount or 0


def claim(engine: Engine, worker: str, *, now: dt.datetime | None = None) -> int | None:
    """Claim the oldest queued job for ``worker``: the guarded UPDATE changes the row for exactly
    one of several workers asking at once; the others move on to the next job."""
    with Session(engine) as session, session.begin():
        tried: set[int] = set()
        while True:
            query = select(ExportJob.id).where(ExportJob.status == "queued")
            if tried:
                query = query.where(ExportJob.id.not_in(tried))
            job_id = session.scalar(query.order_by(ExportJob.id).limit(1))
            if job_id is None:
                return None
            moment = now or utcnow()
            result = session.execute(
                update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "queued")
                .values(status="running", worker=worker, started_at=moment, heartbeat_at=moment, done=0)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                return job_id
            tried.add(job_id)


def _touch(engine: Engine, job_id: int, worker: str, **values: Any) -> bool:
    with Session(engine) as session, session.begin():
        result = session.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "running",
                                                         ExportJob.worker == worker)
                                 .values(heartbeat_at=utcnow(), **values)
                                 .execution_options(synchronize_session=False))
        return result.rowcount == 1


@contextlib.contextmanager
def _heartbeat(engine: Engine, job_id: int, worker: str) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_EVERY):
            try:
                _touch(engine, job_id, worker)
            except Exception:  # a missed heartbeat is retried; the job goes on
                log.warning("export job %s: heartbeat failed", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"export-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class Worker:
    """Claims queued jobs and builds them, one at a time (see the module docs)."""

    def __init__(self, engine: Engine, directory: Path, *, name: str | None = None,
                 contact_keep: dt.timedelta = CONTACT_EXPORT_KEEP) -> None:
        self.engine = engine
        self.directory = directory
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:64]
        self.contact_keep = contact_keep
        self._swept_at = 0.0

    def sweep(self, now: dt.datetime | None = None) -> int:
        """Remove contact exports older than ``contact_keep``; how many."""
        with Session(self.engine) as session, session.begin():
            return expire_contact_exports(session, self.directory,
                                          built_before=(now or utcnow()) - self.contact_keep)

    def run_once(self) -> int | None:
        """Build one queued job; its id, or None when nothing was queued. About once a minute it
        also removes contact exports past their time."""
        if time.monotonic() - self._swept_at >= SWEEP_EVERY:
            self._swept_at = time.monotonic()
            self.sweep()
        requeue_stale(self.engine)
        job_id = claim(self.engine, self.name)
        if job_id is None:
            return None
        self.build(job_id)
        return job_id

    def run_all(self) -> int:
        """Build queued jobs until none is left; how many."""
        n = 0
        while self.run_once() is not None:
            n += 1
        return n

    def build(self, job_id: int) -> None:
        last = [0.0]

        def progress(done: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                _touch(self.engine, job_id, self.name, done=done)

        with _heartbeat(self.engine, job_id, self.name), Session(reader(self.engine)) as session, session.begin():
            job = session.get(ExportJob, job_id)
            assert job is not None
            try:
                result = produce(session, job, self.directory, progress)
            except Exception as exc:
                log.exception("export job %s failed", job_id)
                result = Result(False, error=f"internal error: {exc}"[:2000])
        with Session(self.engine) as session, session.begin():
            job = session.get(ExportJob, job_id)
            if job is not None and job.status == "expired":
                log.info("export job %s was withdrawn while it was built (an erasure); result dropped", job_id)
                shutil.rmtree(folder_of(job, self.directory), ignore_errors=True)
                return
            if job is None or job.status != "running" or job.worker != self.name:
                log.warning("export job %s was taken over by another worker; result dropped", job_id)
                return
            finish(session, job, result, self.directory)


class WorkerThread(threading.Thread):
    """A :class:`Worker` polling for jobs in the background of a web process."""

    def __init__(self, worker: Worker, poll_seconds: float = 2.0) -> None:
        super().__init__(name="cati-export-worker", daemon=True)
        self.worker = worker
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        log.info("export worker %s started (folder %s)", self.worker.name, self.worker.directory)
        busy = False
        while not self.stopping.wait(0 if busy else self.poll_seconds):
            try:
                busy = self.worker.run_once() is not None
            except Exception:  # the worker must survive a database hiccup
                log.exception("export worker: cannot claim or build a job")
                busy = False

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        self.join(timeout)


def start_worker_thread(engine: Engine, settings: Mapping[str, Any]) -> WorkerThread | None:
    """Start the background worker of a web process if ``cati.export_worker`` is on."""
    if not settings.get("cati.export_worker"):
        return None
    thread = WorkerThread(Worker(engine, export_dir(settings), contact_keep=contact_export_keep(settings)))
    thread.start()
    return thread
