"""Export jobs: built in the request or queued, cached by the data's fingerprint, older files
retired, downloads audited; workers claim each job exactly once (guarded UPDATE), read committed
data in their own snapshot, report progress, and take over jobs whose worker died."""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cati.exports import ExportError
from cati.models import AuditEvent, ExportJob, Study
from cati.models.meta import utcnow
from cati.services import export_jobs, exports
from cati.services.exports import FileOptions, Selection, SelectionError

from .test_exports_service import COMPLETE, SCREENED, add_interview, make_study


@pytest.fixture
def study(dbsession):
    study = make_study(dbsession)
    for _ in range(3):
        add_interview(dbsession, study, COMPLETE)
    add_interview(dbsession, study, SCREENED)
    return study


def request(dbsession, study, folder, fmt="sav", selection=None, **kw):
    return export_jobs.request_export(dbsession, study, fmt, selection or Selection(), user_id=None, directory=folder,
                                      **kw)


class TestRequests:
    def test_small_export_is_built_in_the_request(self, dbsession, study, tmp_path):
        job, cached = request(dbsession, study, tmp_path)
        assert not cached and (job.status, job.worker, job.done, job.total) == ("done", "inline", 3, 3)
        path = export_jobs.download_path(job, tmp_path)
        assert path == tmp_path / str(job.id) / f"{study.slug}_sav.zip" and job.size == path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            assert sorted(archive.namelist()) == [f"{study.slug}.sav", f"{study.slug}.sps"]
        assert job.files == [f"{study.slug}.sav", f"{study.slug}.sps"]
        assert export_jobs.content_type(job) == "application/zip"
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.request")).one()
        assert event.details["format"] == "sav" and event.details["rows"] == 3

    def test_single_file_formats_are_not_zipped(self, dbsession, study, tmp_path):
        job, _ = request(dbsession, study, tmp_path, "xlsx")
        assert job.download == f"{study.slug}.xlsx" and export_jobs.content_type(job).endswith("sheet")

    def test_same_request_same_data_is_served_from_the_cache(self, dbsession, study, tmp_path):
        first, _ = request(dbsession, study, tmp_path, "csv")
        again, cached = request(dbsession, study, tmp_path, "csv")
        assert cached and again.id == first.id
        other_options, cached = request(dbsession, study, tmp_path, "csv", Selection(("complete", "screened")))
        assert not cached and other_options.id != first.id
        english, cached = request(dbsession, study, tmp_path, "csv", language="en")
        assert not cached and english.id not in (first.id, other_options.id)

    def test_changed_data_build_a_new_file_and_retire_the_old(self, dbsession, study, tmp_path):
        first, _ = request(dbsession, study, tmp_path, "csv")
        add_interview(dbsession, study, COMPLETE)
        second, cached = request(dbsession, study, tmp_path, "csv")
        assert not cached and second.total == 4
        assert first.status == "expired" and not (tmp_path / str(first.id)).exists()
        assert export_jobs.download_path(second, tmp_path) is not None

    def test_a_file_removed_behind_our_back_is_built_again(self, dbsession, study, tmp_path):
        first, _ = request(dbsession, study, tmp_path, "xlsx")
        export_jobs.download_path(first, tmp_path).unlink()
        second, cached = request(dbsession, study, tmp_path, "xlsx")
        assert not cached and first.status == "expired" and second.status == "done"

    def test_contact_exports_are_never_cached(self, dbsession, study, tmp_path):
        first, cached_first = request(dbsession, study, tmp_path, "csv", contacts=True)
        second, cached_second = request(dbsession, study, tmp_path, "csv", contacts=True)
        assert not cached_first and not cached_second and first.id != second.id
        assert first.status == "expired"  # the newer file replaces it
        actions = [e.action for e in dbsession.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions.count("export.contacts_request") == 2
        assert export_jobs.recent_jobs(dbsession, study) == []  # not among the data files
        assert export_jobs.recent_jobs(dbsession, study, contacts=True) == [second]

    def test_large_exports_are_queued(self, dbsession, study, tmp_path):
        job, cached = request(dbsession, study, tmp_path, "sav", inline_rows=2)
        assert not cached and (job.status, job.total, job.done) == ("queued", 3, 0)
        again, cached = request(dbsession, study, tmp_path, "sav", inline_rows=2)
        assert cached and again.id == job.id  # the queued job answers the same request

    def test_wide_exports_are_queued_however_few_the_interviews(self, dbsession, study, tmp_path):
        # 3 interviews: inline by rows, but not by cells (interviews x variables) once the cap is
        # below 3 x the codebook's width: on SQLite an inline build holds the write lock.
        (book,) = exports.codebooks(dbsession, study, exports.version_ids(dbsession, study, Selection())).values()
        job, _cached = request(dbsession, study, tmp_path, "csv", inline_cells=3 * len(book))
        assert job.status == "done"
        job, _cached = request(dbsession, study, tmp_path, "sav", inline_cells=3 * len(book) - 1)
        assert (job.status, job.total) == ("queued", 3)
        # A contact export is as wide as its columns: the cap applies to them.
        (contact_book,) = exports.codebooks(dbsession, study, exports.version_ids(dbsession, study, Selection()),
                                            contacts=True).values()
        job, _cached = request(dbsession, study, tmp_path, "csv", contacts=True, inline_cells=3 * len(contact_book))
        assert job.status == "done"
        job, _cached = request(dbsession, study, tmp_path, "csv", contacts=True,
                               inline_cells=3 * len(contact_book) - 1)
        assert job.status == "queued"

    def test_a_failed_export_says_why(self, dbsession, study, tmp_path, monkeypatch):
        def refuse(*args, **kwargs):
            raise ExportError("Daten_Labels: too many rows for Excel")

        monkeypatch.setattr(exports, "build", refuse)
        job, _ = request(dbsession, study, tmp_path, "xlsx")
        assert (job.status, job.error) == ("failed", "Daten_Labels: too many rows for Excel")
        assert not (tmp_path / str(job.id)).exists()
        _, cached = request(dbsession, study, tmp_path, "xlsx")
        assert not cached  # a failed job is not a cached answer

    def test_unknown_format_or_language(self, dbsession, study, tmp_path):
        with pytest.raises(SelectionError, match="format"):
            request(dbsession, study, tmp_path, "pdf")
        with pytest.raises(SelectionError, match="language"):
            request(dbsession, study, tmp_path, "csv", language="fr")

    def test_download_is_audited_with_format_options_and_user(self, dbsession, study, tmp_path):
        job, _ = request(dbsession, study, tmp_path, "sss", Selection(("complete",), test=True))
        export_jobs.record_download(dbsession, job, user_id=None)
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.download")).one()
        assert event.target == f"export:{job.id}" and event.study_id == study.id
        assert event.details["format"] == "sss" and event.details["options"]["test"] is True
        assert event.details["file"] == job.download and event.details["contacts"] is False

    def test_download_path_refuses_unsafe_names(self, dbsession, study, tmp_path):
        job, _ = request(dbsession, study, tmp_path, "xlsx")
        job.download = "../../etc/passwd"
        assert export_jobs.download_path(job, tmp_path) is None


class TestFileOptions:
    """Excel's labelled data sheet and the CSV variant for Excel are part of what a job is: in its
    options, its fingerprint (a labelled and an unlabelled file are never confused), its file and
    its audit events."""

    STATE = exports.DataState(3, 6, "2026-05-01T10:00:00")

    def digest(self, fmt, **options):
        return export_jobs.fingerprint(fmt, Selection(), "de", False, self.STATE, FileOptions(**options))

    def test_fingerprint_counts_the_options_of_the_format(self):
        assert self.digest("xlsx", labels=True) != self.digest("xlsx")
        assert self.digest("csv", excel_csv=True) != self.digest("csv")
        assert self.digest("xlsx", labels=True) != self.digest("xlsx", excel_csv=True)

    def test_fingerprint_ignores_options_of_other_formats(self):
        # the same file, so the same cache entry
        assert self.digest("sav", labels=True, excel_csv=True) == self.digest("sav")
        assert self.digest("csv", labels=True) == self.digest("csv")
        assert self.digest("xlsx", excel_csv=True) == self.digest("xlsx")
        assert export_jobs.fingerprint("xlsx", Selection(), "de", False, self.STATE) == self.digest("xlsx")

    def test_labelled_and_unlabelled_excel_are_two_cached_files(self, dbsession, study, tmp_path):
        plain, _ = request(dbsession, study, tmp_path, "xlsx")
        labelled, cached = request(dbsession, study, tmp_path, "xlsx", file_options=FileOptions(labels=True))
        assert not cached and labelled.id != plain.id and labelled.fingerprint != plain.fingerprint
        assert labelled.options["labels"] is True and plain.options["labels"] is False
        assert plain.status == "done"  # not replaced: a file of another kind
        sheets = {job.id: openpyxl.load_workbook(export_jobs.download_path(job, tmp_path), read_only=True).sheetnames
                  for job in (plain, labelled)}
        assert sheets == {plain.id: ["Daten", "Codebuch", "Info"],
                          labelled.id: ["Daten", "Daten_Labels", "Codebuch", "Info"]}
        again, cached = request(dbsession, study, tmp_path, "xlsx", file_options=FileOptions(labels=True))
        assert cached and again.id == labelled.id
        again, cached = request(dbsession, study, tmp_path, "xlsx")
        assert cached and again.id == plain.id
        # a labelled file of newer data replaces the older labelled one only
        add_interview(dbsession, study, COMPLETE)
        newer, cached = request(dbsession, study, tmp_path, "xlsx", file_options=FileOptions(labels=True))
        assert not cached and (labelled.status, plain.status, newer.status) == ("expired", "done", "done")

    def test_excel_csv_is_written_for_excel_and_audited(self, dbsession, study, tmp_path):
        job, _ = request(dbsession, study, tmp_path, "csv", file_options=FileOptions(excel_csv=True, labels=True))
        assert job.options["excel_csv"] is True and job.options["labels"] is False  # labels: Excel only
        with zipfile.ZipFile(export_jobs.download_path(job, tmp_path)) as archive:
            data = archive.read(f"{study.slug}.csv")
        assert data.startswith(b"\xef\xbb\xbfresp_id;")
        export_jobs.record_download(dbsession, job, user_id=None)
        for action in ("export.request", "export.download"):
            event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == action)).one()
            assert event.details["options"]["excel_csv"] is True and event.details["options"]["labels"] is False

    def test_jobs_stored_without_file_options_are_plain_and_replaced_by_plain_files(self, dbsession, study,
                                                                                      tmp_path):
        old, _ = request(dbsession, study, tmp_path, "csv")
        old.options = Selection().to_json() | {"language": "de"}  # as stored before file options existed
        assert export_jobs.job_file_options(old) == FileOptions()
        add_interview(dbsession, study, COMPLETE)
        request(dbsession, study, tmp_path, "csv", file_options=FileOptions(excel_csv=True))
        assert old.status == "done"
        request(dbsession, study, tmp_path, "csv")
        assert old.status == "expired"


# --------------------------------------------------------------------------- workers (real commits)


@pytest.fixture
def committed(engine, clean_database, tmp_path):
    """A study with three completes, committed, and the folder the workers write to."""
    with Session(engine) as session, session.begin():
        study = make_study(session)
        for _ in range(3):
            add_interview(session, study, COMPLETE)
        study_id = study.id
    return study_id, tmp_path / "exports"


def queue(engine, study_id, n=1, fmt="csv"):
    ids = []
    with Session(engine) as session, session.begin():
        for _ in range(n):
            job = ExportJob(study_id=study_id, format=fmt, options=export_jobs.job_options(Selection(), "de"),
                            fingerprint="f", status="queued", total=3)
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


def load(engine, job_id):
    with Session(engine) as session:
        return session.get(ExportJob, job_id)


class TestWorkers:
    def test_each_job_is_claimed_exactly_once(self, engine, committed):
        study_id, _ = committed
        ids = queue(engine, study_id, 12)

        def drain(name):
            got = []
            while (job_id := export_jobs.claim(engine, name)) is not None:
                got.append(job_id)
            return got

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(drain, [f"w{i}" for i in range(4)]))
        claimed = [job_id for got in results for job_id in got]
        assert sorted(claimed) == ids  # every job once, none twice
        with Session(engine) as session:
            workers = dict(session.execute(select(ExportJob.id, ExportJob.worker)).all())
        for name, got in zip([f"w{i}" for i in range(4)], results, strict=True):
            assert all(workers[job_id] == name for job_id in got)

    def test_a_claimed_job_is_not_claimed_again(self, engine, committed):
        study_id, _ = committed
        (job_id,) = queue(engine, study_id)
        assert export_jobs.claim(engine, "a") == job_id
        assert export_jobs.claim(engine, "b") is None
        assert load(engine, job_id).status == "running"

    def test_worker_builds_committed_data_and_records_the_result(self, engine, committed):
        study_id, folder = committed
        (job_id,) = queue(engine, study_id, fmt="sav")
        worker = export_jobs.Worker(engine, folder, name="w1")
        assert worker.run_once() == job_id
        job = load(engine, job_id)
        assert (job.status, job.done, job.total, job.worker) == ("done", 3, 3, "w1")
        assert job.started_at is not None and job.finished_at is not None
        with zipfile.ZipFile(folder / str(job_id) / job.download) as archive:
            assert len(archive.namelist()) == 2
        assert worker.run_once() is None  # nothing left

    def test_progress_is_written_while_reading(self, engine, committed, monkeypatch):
        study_id, folder = committed
        queue(engine, study_id)
        seen = []
        real_touch = export_jobs._touch

        def touch(engine_, job_id_, worker, **values):
            if "done" in values:
                seen.append(values["done"])
            return real_touch(engine_, job_id_, worker, **values)

        monkeypatch.setattr(export_jobs, "_touch", touch)
        monkeypatch.setattr(export_jobs, "PROGRESS_EVERY", 0.0)
        monkeypatch.setattr(exports, "BATCH", 1)
        real_build = exports.build
        monkeypatch.setattr(exports, "build", lambda *a, **kw: real_build(*a, **{**kw, "batch": 1}))
        export_jobs.Worker(engine, folder, name="w1").run_once()
        assert seen == [1, 2, 3]

    def test_stale_jobs_are_taken_over(self, engine, committed):
        study_id, folder = committed
        (job_id,) = queue(engine, study_id)
        assert export_jobs.claim(engine, "dead") == job_id
        assert export_jobs.requeue_stale(engine) == 0  # its heartbeat is fresh
        with Session(engine) as session, session.begin():
            session.execute(update(ExportJob).values(heartbeat_at=utcnow() - dt.timedelta(hours=1)))
        assert export_jobs.requeue_stale(engine) == 1
        worker = export_jobs.Worker(engine, folder, name="alive")
        assert worker.run_once() == job_id and load(engine, job_id).worker == "alive"

    def test_result_of_a_worker_that_lost_its_job_is_dropped(self, engine, committed):
        study_id, folder = committed
        (job_id,) = queue(engine, study_id)
        assert export_jobs.claim(engine, "slow") == job_id
        with Session(engine) as session, session.begin():  # taken over meanwhile
            session.execute(update(ExportJob).values(worker="other"))
        export_jobs.Worker(engine, folder, name="slow").build(job_id)
        assert load(engine, job_id).status == "running"

    def test_the_reader_does_not_block_writers(self, engine, committed):
        study_id, _ = committed
        read_engine = export_jobs.reader(engine)
        with Session(read_engine) as reading, reading.begin():
            assert reading.get(Study, study_id) is not None
            started = time.monotonic()
            queue(engine, study_id)  # a writer gets through while the snapshot is open
            assert time.monotonic() - started < 5

    def test_thread_builds_queued_jobs_in_the_background(self, engine, committed):
        study_id, folder = committed
        thread = export_jobs.start_worker_thread(engine, {"cati.export_worker": True,
                                                          "cati.export_dir": str(folder)})
        assert thread is not None
        try:
            (job_id,) = queue(engine, study_id, fmt="xlsx")
            deadline = time.monotonic() + 30
            while load(engine, job_id).status != "done" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert load(engine, job_id).status == "done"
        finally:
            thread.stop(timeout=10)
        assert not thread.is_alive()
        assert export_jobs.start_worker_thread(engine, {}) is None  # off unless configured

    def test_worker_threads_survive_errors(self, engine, committed, monkeypatch):
        calls = []

        def broken_run_once(self):
            calls.append(1)
            raise RuntimeError("database gone")

        monkeypatch.setattr(export_jobs.Worker, "run_once", broken_run_once)
        thread = export_jobs.WorkerThread(export_jobs.Worker(engine, Path("unused")), poll_seconds=0.01)
        thread.start()
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        thread.stop(timeout=5)
        assert len(calls) >= 3 and not thread.is_alive()


class TestContactExportRetention:
    def contact_export(self, engine, study_id, folder):
        with Session(engine) as session, session.begin():
            job, _ = export_jobs.request_export(session, session.get(Study, study_id), "csv", Selection(),
                                                user_id=None, directory=folder, contacts=True)
            return job.id, export_jobs.download_path(job, folder)

    def test_workers_remove_contact_exports_past_their_time(self, engine, committed):
        study_id, folder = committed
        job_id, path = self.contact_export(engine, study_id, folder)
        (data_id,) = queue(engine, study_id)
        worker = export_jobs.Worker(engine, folder, name="w1", contact_keep=dt.timedelta(hours=24))
        assert worker.run_once() == data_id  # the first poll sweeps: the contact file is young yet
        assert path.is_file() and load(engine, job_id).status == "done"
        assert worker.sweep(now=utcnow() + dt.timedelta(hours=23)) == 0
        assert worker.sweep(now=utcnow() + dt.timedelta(hours=25)) == 1
        assert not path.exists() and load(engine, job_id).status == "expired"
        data = load(engine, data_id)  # data files are not personal: they stay
        assert data.status == "done" and export_jobs.download_path(data, folder) is not None

    def test_erasure_of_contacts_removes_every_contact_export_of_the_study(self, engine, committed):
        study_id, folder = committed
        job_id, path = self.contact_export(engine, study_id, folder)
        with Session(engine) as session, session.begin():
            assert export_jobs.expire_contact_exports(session, folder, study_id=study_id + 1) == 0
            assert export_jobs.expire_contact_exports(session, folder, study_id=study_id) == 1
        assert not path.exists() and load(engine, job_id).status == "expired"

    def test_erasure_withdraws_contact_exports_still_waiting_or_being_built(self, engine, committed):
        study_id, folder = committed
        with Session(engine) as session, session.begin():
            jobs = [ExportJob(study_id=study_id, format="csv", contacts=True, status="queued", fingerprint="f",
                              options=export_jobs.job_options(Selection(), "de"), total=3) for _ in range(2)]
            session.add_all(jobs)
            session.flush()
            waiting, building = (job.id for job in jobs)
        assert export_jobs.claim(engine, "w1") == waiting  # the oldest: being built now
        with Session(engine) as session, session.begin():
            assert export_jobs.expire_contact_exports(session, folder, study_id=study_id) == 2
        assert {load(engine, i).status for i in (waiting, building)} == {"expired"}
        assert export_jobs.claim(engine, "w2") is None  # the other is not built at all
        export_jobs.Worker(engine, folder, name="w1").build(waiting)  # the builder finishes ...
        assert load(engine, waiting).status == "expired" and not (folder / str(waiting)).exists()  # ... in vain

    def test_keep_comes_from_the_settings(self):
        assert export_jobs.contact_export_keep({"cati.contact_export_hours": 2}) == dt.timedelta(hours=2)
        assert export_jobs.contact_export_keep({}) == dt.timedelta(hours=24)
