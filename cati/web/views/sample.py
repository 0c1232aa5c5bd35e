"""Sample upload: what ``cati sample import`` does, from the study's page.

A researcher uploads a CSV or XLSX file (optionally a column mapping, the region for numbers
without a country code, and "skip invalid rows"); the import runs in the request's transaction
through :func:`cati.services.sample_import.import_sample` and is all or nothing, exactly as on the
command line. The answer is the import report itself - imported, not callable, duplicates, every
problem with its row and column - with status 200, or 422 when nothing was imported. Sending the
same file again adds nothing (its numbers and references are duplicates then), so the report page
needs no redirect.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from pyramid.view import view_config, view_defaults
from sqlalchemy import select

from cati.models import SampleImport, User
from cati.sampling.reader import parse_column_map
from cati.services import reports
from cati.services.sample_import import ImportReport, import_sample

from ..i18n import _
from ..resources import StudyContext
from ..security import Permission
from .studies import upload_name, uploaded

#: Report lines shown on the page; a file with more problems shows the count of the rest.
SHOWN_LINES = 200
#: Mapping files are a few lines; anything larger is the wrong file.
MAX_MAP_BYTES = 64 * 1024


@view_defaults(route_name="study.sample", renderer="studies/sample.jinja2", permission=Permission.STUDY_MANAGE)
class SampleViews:
    def __init__(self, context: StudyContext, request: Any) -> None:
        self.study = context.study
        self.request = request
        self.translate = request.localizer.translate

    def page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        session = self.request.dbsession
        self.request.response.status_int = status
        imports = session.execute(
            select(SampleImport, User.display_name).outerjoin(User, User.id == SampleImport.user_id)
            .where(SampleImport.study_id == self.study.id).order_by(SampleImport.id.desc())
        ).all()
        cases = reports.case_count(session, self.study)  # the dashboard's tallies, not a count of the cases
        locale = self.request.locale_name
        data: dict[str, Any] = {"study": self.study, "imports": imports, "cases": cases, "report": None,
                                "fmt_num": lambda value: format_decimal(value, locale=locale),
                                "lines": [], "more_lines": 0, "problems": [],
                                "form": {"default_region": "DE", "skip_invalid": False}}
        data.update(extra)
        return data

    def refused(self, problems: list[str], form: dict[str, Any]) -> dict[str, Any]:
        return self.page(422, problems=problems, form=form)

    @view_config(request_method="GET")
    def show(self) -> dict[str, Any]:
        return self.page()

    @view_config(request_method="POST")
    def upload(self) -> dict[str, Any]:
        request = self.request
        form = {"default_region": request.POST.get("default_region", "DE").strip().upper() or "DE",
                "skip_invalid": request.POST.get("skip_invalid") == "yes"}
        upload = uploaded(request, "sample")
        if upload is None:
            return self.refused([self.translate(_("Please choose a sample file (CSV or Excel)."))], form)
        if len(form["default_region"]) != 2 or not form["default_region"].isalpha():
            return self.refused([self.translate(_("Region: a two-letter country code such as DE."))], form)
        mapping = None
        map_upload = uploaded(request, "map")
        if map_upload is not None:
            map_name = upload_name(map_upload, "map.yaml")
            data = map_upload.file.read(MAX_MAP_BYTES + 1)
            try:
                if len(data) > MAX_MAP_BYTES:
                    raise ValueError(f"{map_name}: larger than 64 KB; is it really a column mapping?")
                mapping = parse_column_map(data.decode("utf-8-sig"), map_name)
            except UnicodeDecodeError:
                return self.refused([f"{map_name}: not UTF-8 text"], form)
            except ValueError as exc:
                return self.refused(str(exc).splitlines(), form)
        name = upload_name(upload, "sample.csv")
        report = import_sample(request.dbsession, self.study, upload.file, filename=name, mapping=mapping,
                               default_region=form["default_region"], skip_invalid=form["skip_invalid"],
                               dnc_salt=request.registry.settings.get("cati.dnc_salt", "cati-dnc"),
                               actor_id=request.identity.id)
        if report.committed:
            request.dbsession.flush()
        return self.report_page(report, form)

    def report_page(self, report: ImportReport, form: dict[str, Any]) -> dict[str, Any]:
        lines = report.lines()
        return self.page(200 if report.committed else 422, report=report, lines=lines[:SHOWN_LINES],
                         more_lines=max(0, len(lines) - SHOWN_LINES), form=form)
