"""The client portal: a client's studies, their field progress, the topline report and the data
downloads (docs/portal.md).

Permissions: the study list needs ``portal:use`` (everybody but interviewers) and shows the
studies the user may see; the pages of a study need ``study:view`` (progress, topline) and
``study:export`` (downloads): the study's client, its supervisors, admins and researchers. The
contact export needs ``contacts:export`` (admins and researchers only, never clients); its jobs
are invisible to everybody else (404). A user who has nothing to do with a study gets 404 for
every page of it (the forbidden view).

Downloads are built by :mod:`cati.services.export_jobs`: at once for small selections, in the
background otherwise (the page refreshes itself while a job runs). Every file served is audited
(``export.download``). The pages work without JavaScript; charts are inline SVG.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.numbers import format_decimal, format_percent
from pyramid.events import ApplicationCreated, subscriber
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.response import FileResponse
from pyramid.view import view_config
from sqlalchemy import func, select

from cati.models import Interview, User
from cati.services import export_jobs, exports, topline
from cati.services.studies import studies_visible_to

from ..i18n import _
from ..resources import StudyContext
from ..security import Permission

P = Permission

#: Tabs of a study's portal pages: (route, label).
NAV = (
    ("portal.study", _("Field progress")),
    ("portal.topline", _("Topline")),
    ("portal.downloads", _("Downloads")),
)
FORMAT_LABELS = {
    "sav": _("SPSS (.sav + .sps, zip)"),
    "zsav": _("SPSS compressed (.zsav + .sps, zip)"),
    "xlsx": _("Excel (.xlsx)"),
    "csv": _("CSV (data, codebook, value labels; zip)"),
    "csv_excel": _("CSV for Excel (semicolon, decimal comma, byte-order mark; zip)"),
    "sss": _("Triple-S (.sss + data; zip)"),
}
GROUP_LABELS = {
    "complete": _("complete interviews"),
    "partial": _("partial interviews and break-offs with answers"),
    "screened": _("screened out (incl. quota full)"),
    "test": _("test interviews (cati testdata)"),
}
STATUS_LABELS = {
    "queued": _("waiting"),
    "running": _("being built"),
    "done": _("ready"),
    "failed": _("failed"),
    "expired": _("replaced"),
}
#: The form's choice for the CSV variant for Excel: format ``csv`` with ``excel_csv``.
CSV_EXCEL = "csv_excel"
#: How the list of files names a job's file options.
FILE_OPTION_LABELS = {
    "labels": _("with value labels"),
    "excel_csv": _("for Excel"),
}
#: Seconds between automatic reloads of the downloads page while a job is waiting or running.
REFRESH_SECONDS = 3


@subscriber(ApplicationCreated)
def start_export_worker(event: ApplicationCreated) -> None:
    """The background export worker of this web process (``cati.export_worker = true``)."""
    registry = event.app.registry
    thread = export_jobs.start_worker_thread(registry["dbengine"], registry.settings)
    if thread is not None:
        registry["cati.export_worker_thread"] = thread


def _formatters(request: Any) -> dict[str, Any]:
    locale = request.locale_name

    def num(value: Any) -> str:
        return "–" if value is None else format_decimal(value, locale=locale)

    def pct(value: float | None) -> str:
        return "–" if value is None else format_percent(value, format="#,##0.0 %", locale=locale)

    def size(value: int) -> str:
        if value >= 1024 * 1024:
            return f"{format_decimal(round(value / 1024 / 1024, 1), locale=locale)} MB"
        return f"{format_decimal(max(round(value / 1024), 1), locale=locale)} KB"

    return {"num": num, "pct": pct, "size": size}


@view_config(route_name="portal.index", request_method="GET", renderer="portal/index.jinja2",
             permission=P.PORTAL_USE)
def portal_index(request: Any) -> dict[str, Any]:
    studies = list(request.dbsession.scalars(studies_visible_to(request.identity)))
    completes: dict[int, int] = {}
    if studies:
        completes = dict(request.dbsession.execute(
            select(Interview.study_id, func.count())
            .where(Interview.study_id.in_([s.id for s in studies]), Interview.status == "complete",
                   Interview.is_test.is_(False))
            .group_by(Interview.study_id)).all())
    return {"studies": studies, "completes": completes, **_formatters(request)}


class PortalViews:
    def __init__(self, context: StudyContext, request: Any) -> None:
        self.context = context
        self.study = context.study
        self.request = request
        self.translate = request.localizer.translate

    def base(self, **extra: Any) -> dict[str, Any]:
        request = self.request
        return {
            "study": self.study,
            "nav": [(route, self.translate(text)) for route, text in NAV],
            "can_export": request.has_permission(P.STUDY_EXPORT, self.context),
            "can_contacts": request.has_permission(P.CONTACTS_EXPORT, self.context),
            **_formatters(request),
            **extra,
        }

    # -- progress and topline ------------------------------------------------------------------
    @view_config(route_name="portal.study", request_method="GET", renderer="portal/progress.jinja2",
                 permission=P.STUDY_VIEW)
    def progress(self) -> dict[str, Any]:
        return self.base(progress=topline.field_progress(self.request.dbsession, self.study))

    @view_config(route_name="portal.topline", request_method="GET", renderer="portal/topline.jinja2",
                 permission=P.STUDY_VIEW)
    def topline(self) -> dict[str, Any]:
        language = "en" if self.request.locale_name == "en" else "de"
        return self.base(report=topline.topline(self.request.dbsession, self.study, language=language))

    # -- downloads -----------------------------------------------------------------------------
    def downloads_page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        request, study = self.request, self.study
        request.response.status_int = status
        can_contacts = request.has_permission(P.CONTACTS_EXPORT, self.context)
        jobs = export_jobs.recent_jobs(request.dbsession, study)
        contact_jobs = [j for j in export_jobs.recent_jobs(request.dbsession, study, contacts=True) if j.contacts] \
            if can_contacts else []
        people = {j.requested_by for j in (*jobs, *contact_jobs) if j.requested_by}
        names = dict(request.dbsession.execute(select(User.id, User.display_name).where(User.id.in_(people))).all()) \
            if people else {}
        pending = any(j.status in ("queued", "running") for j in (*jobs, *contact_jobs))
        data = {
            "jobs": jobs,
            "contact_jobs": contact_jobs,
            "names": names,
            "formats": [(code, self.translate(text)) for code, text in FORMAT_LABELS.items()],
            "groups": [(code, self.translate(text)) for code, text in GROUP_LABELS.items()],
            "statuses": {code: self.translate(text) for code, text in STATUS_LABELS.items()},
            "refresh_seconds": REFRESH_SECONDS if pending else None,
            "describe": self.describe,
            "file_kind": self.file_kind,
            "values": {"format": "sav", "include": ["complete"], "since": "", "until": "", "labels": False},
            "contact_values": {"format": "xlsx", "include": ["complete"], "since": "", "until": "",
                               "labels": False},
            "errors": [],
            "problem_form": None,
        }
        data.update(extra)
        return self.base(**data)

    def describe(self, job: Any) -> str:
        selection = export_jobs.job_selection(job)
        groups = [self.translate(GROUP_LABELS[g]) for g in selection.groups]
        if selection.test:
            groups.append(self.translate(GROUP_LABELS["test"]))
        text = ", ".join(groups)
        if selection.since or selection.until:
            period = self.translate(_("ended ${since} to ${until}", mapping={
                "since": selection.since.isoformat() if selection.since else "…",
                "until": selection.until.isoformat() if selection.until else "…"}))
            text = f"{text}; {period}"
        return text

    def file_kind(self, job: Any) -> str:
        """The job's format and the file options it was written with (``xlsx, with value labels``)."""
        options = export_jobs.job_file_options(job).to_json()
        return ", ".join([job.format, *(self.translate(text) for key, text in FILE_OPTION_LABELS.items()
                                        if options[key])])

    @view_config(route_name="portal.downloads", request_method="GET", renderer="portal/downloads.jinja2",
                 permission=P.STUDY_EXPORT)
    def downloads(self) -> dict[str, Any]:
        return self.downloads_page()

    def _form(self) -> tuple[dict[str, Any], list[str], exports.Selection | None]:
        post = self.request.POST
        values = {"format": post.get("format", ""), "include": post.getall("include"),
                  "since": post.get("since", "").strip(), "until": post.get("until", "").strip(),
                  "labels": bool(post.get("labels"))}
        errors: list[str] = []
        if values["format"] not in FORMAT_LABELS:
            errors.append(self.translate(_("Please choose a file format.")))
        unknown = [g for g in values["include"] if g not in GROUP_LABELS]
        if unknown:
            errors.append(self.translate(_("Unknown selection: ${value}.", mapping={"value": unknown[0]})))
        days: dict[str, dt.date | None] = {}
        for key in ("since", "until"):
            days[key] = None
            if values[key]:
                try:
                    days[key] = dt.date.fromisoformat(values[key])
                except ValueError:
                    errors.append(self.translate(_("${value} is not a date (YYYY-MM-DD).",
                                                   mapping={"value": values[key]})))
        selection = None
        if not errors:
            groups = [g for g in values["include"] if g != "test"] or ["complete"]
            try:
                selection = exports.Selection(groups=tuple(groups), test="test" in values["include"],
                                              since=days["since"], until=days["until"])
            except exports.SelectionError:
                errors.append(self.translate(_("The period starts after it ends.")))
        return values, errors, selection

    def _request(self, contacts: bool) -> Any:
        request = self.request
        values, errors, selection = self._form()
        form = "contacts" if contacts else "data"
        if errors or selection is None:
            key = "contact_values" if contacts else "values"
            return self.downloads_page(422, errors=errors, problem_form=form, **{key: values})
        settings = request.registry.settings
        excel_csv = values["format"] == CSV_EXCEL
        job, _cached = export_jobs.request_export(
            request.dbsession, self.study, "csv" if excel_csv else values["format"], selection,
            user_id=request.identity.id, directory=export_jobs.export_dir(settings),
            language="en" if request.locale_name == "en" else "de", contacts=contacts,
            file_options=exports.FileOptions(labels=values["labels"], excel_csv=excel_csv),
            inline_rows=settings.get("cati.export_inline_rows", export_jobs.DEFAULT_INLINE_ROWS),
            inline_cells=settings.get("cati.export_inline_cells", export_jobs.INLINE_CELLS))
        if job.status == "done":
            # Ready (built just now, or unchanged since an earlier request): straight to the file.
            return HTTPSeeOther(request.route_url("portal.download", slug=self.study.slug, job_id=job.id))
        if job.status == "failed":
            request.session.flash(self.translate(_("The export failed: ${error}", mapping={"error": job.error})),
                                  "error")
        else:
            request.session.flash(self.translate(_(
                "The file is being prepared; this page shows when it is ready.")), "success")
        return HTTPSeeOther(request.route_url("portal.downloads", slug=self.study.slug))

    @view_config(route_name="portal.downloads", request_method="POST", renderer="portal/downloads.jinja2",
                 permission=P.STUDY_EXPORT)
    def request_data(self) -> Any:
        return self._request(contacts=False)

    @view_config(route_name="portal.contacts", request_method="POST", renderer="portal/downloads.jinja2",
                 permission=P.CONTACTS_EXPORT)
    def request_contacts(self) -> Any:
        return self._request(contacts=True)

    @view_config(route_name="portal.download", request_method="GET", permission=P.STUDY_EXPORT)
    def download(self) -> Any:
        request = self.request
        job = export_jobs.get_job(request.dbsession, self.study, int(request.matchdict["job_id"]))
        if job is None or (job.contacts and not request.has_permission(P.CONTACTS_EXPORT, self.context)):
            raise HTTPNotFound()
        path = export_jobs.download_path(job, export_jobs.export_dir(request.registry.settings))
        if path is None:
            request.session.flash(self.translate(_("This file is not available (any more); please request it again.")),
                                  "error")
            return HTTPSeeOther(request.route_url("portal.downloads", slug=self.study.slug))
        if request.method != "HEAD":  # asks whether the file is there: no data leaves, nothing to audit
            export_jobs.record_download(request.dbsession, job, request.identity.id)
        response = FileResponse(str(path), request=request, content_type=export_jobs.content_type(job))
        response.content_disposition = f'attachment; filename="{job.download}"'
        return response
