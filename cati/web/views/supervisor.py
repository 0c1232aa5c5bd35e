"""The supervisor's pages of a study: the dashboard (with its live sections for the auto-refresh,
and its figures as JSON), interviewer productivity, the audit trail and the dispositions report.

Every page needs ``study:supervise``: supervisors who are members of the study, admins and
researchers; clients and interviewers get nothing of this (the forbidden view answers 404 to
people who have nothing to do with the study). The figures come from
:mod:`cati.services.fieldwork` and :mod:`cati.services.productivity`; the pages work without
JavaScript, ``static/supervisor.js`` only keeps the open dashboard current.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent
from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther
from pyramid.response import FileIter, Response
from pyramid.view import view_config
from sqlalchemy import or_, select

from cati.db import own_write_session
from cati.models import Role, StudyMember, User
from cati.sampling.aapor import RATE_NAMES
from cati.sampling.dispositions import RATE_CLASSES
from cati.services import fieldwork, productivity, reports

from ..i18n import _
from ..rendering import DISPLAY_TIMEZONE
from ..resources import StudyContext, parse_id, parse_user_id
from ..security import Permission
from .supervisor_charts import bar_chart

TZ = str(DISPLAY_TIMEZONE)
P = Permission

#: Tabs of the supervisor's pages: (route, label).
NAV = (
    ("supervisor.dashboard", _("Dashboard")),
    ("supervisor.productivity", _("Productivity")),
    ("supervisor.cases", _("Cases")),
    ("supervisor.due", _("Due")),
    ("supervisor.backchecks", _("Back-checks")),
    ("supervisor.audit", _("Audit trail")),
    ("supervisor.control", _("Fieldwork control")),
    ("study.quotas", _("Quotas")),
)

RATE_CLASS_LABELS = {
    "I": _("Complete interviews"),
    "P": _("Partial interviews"),
    "R": _("Refusals and break-offs"),
    "NC": _("Non-contacts"),
    "O": _("Other eligible"),
    "UH": _("Unknown if household"),
    "UO": _("Unknown, other"),
    "NE": _("Not eligible"),
}
BLOCK_LABELS = {
    "dnc": _("do-not-call list"),
    "legal": _("no legal basis (consent)"),
    "quota": _("quota cell full"),
    "window": _("no calling window"),
    "erased": _("contact data erased"),
    "other": _("other"),
}
STATE_LABELS = {
    "ready": _("open"),
    "claimed": _("being called"),
    "blocked": _("blocked"),
    "final": _("closed"),
}


def formatters(request: Any) -> dict[str, Any]:
    """Number, percentage, time and duration formatting in the user's language."""
    locale = request.locale_name

    def num(value: float | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=locale)

    def pct(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        return format_percent(value, format="#,##0" + ("." + "0" * digits if digits else "") + " %", locale=locale)

    def hm(seconds: float | None) -> str:
        if seconds is None:
            return "–"
        minutes = round(seconds / 60)
        return f"{minutes // 60}:{minutes % 60:02d}"

    def day(value: dt.date) -> str:
        return format_date(value, "short", locale=locale)

    def clock(value: dt.datetime | None, tz: str = TZ) -> str:
        if value is None:
            return "–"
        return format_time(value, "short", tzinfo=ZoneInfo(tz), locale=locale)

    return {"num": num, "pct": pct, "hm": hm, "fmt_day": day, "clock": clock}


class SupervisorPage:
    """What every supervisor page of a study shares: the study, the tabs, the formatters."""

    def __init__(self, context: StudyContext, request: Any) -> None:
        self.context = context
        self.study = context.study
        self.request = request
        self.translate = request.localizer.translate

    def base(self, **extra: Any) -> dict[str, Any]:
        nav = [(route, self.translate(text)) for route, text in NAV]
        return {"study": self.study, "nav": nav, **formatters(self.request), **extra}

    @property
    def actor_id(self) -> int:
        return int(self.request.identity.id)

    def outcome_labels(self) -> dict[str, str]:
        labels = fieldwork.outcome_labels(self.study, self.request.locale_name)
        labels[""] = self.translate(_("not attempted"))
        return labels


class SupervisorViews(SupervisorPage):
    # The page, and its live sections alone (the same template's markup) for supervisor.js, which
    # fetches them every 30 seconds and swaps them in.
    @view_config(route_name="supervisor.dashboard", request_method="GET", renderer="supervisor/dashboard.jinja2",
                 permission=P.STUDY_SUPERVISE)
    @view_config(route_name="supervisor.dashboard_live", request_method="GET",
                 renderer="supervisor/_dashboard_live.jinja2", permission=P.STUDY_SUPERVISE)
    def dashboard(self) -> dict[str, Any]:
        hours = _int_param(self.request, "hours", 4, 1, 48)
        board = fieldwork.dashboard(self.request.dbsession, self.study, tz=TZ, horizon_hours=hours)
        fmt = formatters(self.request)
        per_day = [(fmt["fmt_day"](day), n) for day, n in board.completes_per_day]
        classes = [(c, board.class_counts.get(c, 0)) for c in RATE_CLASSES]
        class_rows = [(f"{c} – {self.translate(RATE_CLASS_LABELS[c])}", n) for c, n in classes]
        return self.base(
            board=board,
            figures=self.figures(board),
            rate_names=RATE_NAMES,
            rate_class_labels={k: self.translate(v) for k, v in RATE_CLASS_LABELS.items()},
            block_labels={k: self.translate(v) for k, v in BLOCK_LABELS.items()},
            outcome_labels=self.outcome_labels(),
            completes_chart=bar_chart(per_day, label_every=7),
            classes_chart=bar_chart(classes),
            attempts_chart=bar_chart(fieldwork.histogram_buckets(board.attempts_histogram)),
            completes_table=per_day,
            classes_table=class_rows,
            attempts_table=fieldwork.histogram_buckets(board.attempts_histogram),
            can_manage=self.request.has_permission(P.STUDY_MANAGE, self.context),
        )

    def figures(self, board: fieldwork.Dashboard) -> dict[str, str]:
        """The dashboard's headline numbers, formatted, keyed as in the page's ``data-figure``."""
        fmt = formatters(self.request)
        t = self.translate
        return {
            "completes": fmt["num"](board.completes),
            "target": fmt["num"](board.target),
            "progress": fmt["pct"](board.progress),
            "attempts_today": fmt["num"](board.attempts_today),
            "callable_now": fmt["num"](board.callable_now),
            "open_zones": t(_("${open} of ${zones} calling zones open",
                              mapping={"open": board.open_zones, "zones": board.zones})),
            "claimed": fmt["num"](board.claimed),
            "appointments_due": fmt["num"](board.appointments_due),
            "appointments_overdue": fmt["num"](board.appointments_overdue),
            "total_cases": fmt["num"](board.total_cases),
            "open_cases": fmt["num"](board.open_cases),
            "blocked": fmt["num"](board.blocked),
            "final_cases": fmt["num"](board.final_cases),
            "e": fmt["num"](board.e.value, 3),
            **{f"rate_{name}": fmt["pct"](board.rates.get(name)) for name in RATE_NAMES},
            "as_of": fmt["clock"](board.at),
        }

    @view_config(route_name="supervisor.dashboard_json", request_method="GET", renderer="json",
                 permission=P.STUDY_SUPERVISE)
    def dashboard_json(self) -> dict[str, Any]:
        hours = _int_param(self.request, "hours", 4, 1, 48)
        board = fieldwork.dashboard(self.request.dbsession, self.study, tz=TZ, horizon_hours=hours)
        return {**board.as_json(), "figures": self.figures(board)}

    @view_config(route_name="supervisor.productivity", request_method="GET",
                 renderer="supervisor/productivity.jinja2", permission=P.STUDY_SUPERVISE)
    def productivity(self) -> dict[str, Any]:
        today = dt.datetime.now(DISPLAY_TIMEZONE).date()
        raw = self.request.GET.get("day", "")
        try:
            day = dt.date.fromisoformat(raw) if raw else today
        except ValueError:
            raise HTTPBadRequest() from None
        result = productivity.productivity(self.request.dbsession, self.study, day, tz=TZ)
        days = [today - dt.timedelta(days=i) for i in range(14)]
        if day not in days:
            days.append(day)
        return self.base(result=result, day=day, days=days, today=today)

    @view_config(route_name="supervisor.audit", request_method="GET", renderer="supervisor/audit.jinja2",
                 permission=P.STUDY_SUPERVISE)
    def audit(self) -> dict[str, Any]:
        params = self.request.GET
        filters, values = audit_filter(params)
        rows, cursor = reports.audit_trail(self.request.dbsession, self.study, filters, tz=TZ)
        # Who can act on the study: its members, admins and researchers, its client's users.
        people = select(User.id, User.display_name).where(or_(
            User.id.in_(select(StudyMember.user_id).where(StudyMember.study_id == self.study.id)),
            User.role.in_((Role.ADMIN, Role.RESEARCHER)),
            *((User.client_id == self.study.client_id,) if self.study.client_id is not None else ())))
        return self.base(**audit_page(self.request, rows, cursor, values, people))

    @view_config(route_name="supervisor.report", request_method="GET", permission=P.STUDY_SUPERVISE)
    def report(self) -> Response:
        fmt = self.request.matchdict["fmt"]
        if fmt not in reports.FORMATS:
            raise HTTPNotFound()
        if self.request.method == "HEAD":  # asks whether it is there: no report built, no download audited
            return Response(content_type=reports.FORMATS[fmt].split(";")[0])
        try:
            # A read-only route: the cases are read (for a big study, seconds of Excel writing)
            # without SQLite's write lock; the download is audited in a short transaction after.
            with own_write_session(self.request) as recorder:
                report = reports.dispositions_report(
                    self.request.dbsession, self.study, fmt, recorder=recorder, actor_id=self.actor_id, tz=TZ,
                    labels=fieldwork.outcome_labels(self.study, self.request.locale_name))
        except reports.ReportError as exc:
            self.request.session.flash(str(exc), "error")
            return HTTPSeeOther(self.request.route_url("supervisor.dashboard", slug=self.study.slug))
        report.file.seek(0, 2)
        length = report.file.tell()
        report.file.seek(0)
        return Response(app_iter=FileIter(report.file), content_type=report.content_type.split(";")[0],
                        charset="utf-8" if fmt == "csv" else None, content_length=length,
                        content_disposition=f'attachment; filename="{report.filename}"')


def _int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPBadRequest() from None
    return min(max(value, low), high)


def _id(raw: str, parse: Any = parse_id) -> int:
    """A row id from a query parameter; ValueError (then 400) for anything that cannot be one."""
    value = parse(raw)
    if value is None:
        raise ValueError(raw)
    return value


def audit_page(request: Any, rows: list[Any], cursor: Any, values: dict[str, str], people: Any) -> dict[str, Any]:
    """What ``_audit_trail.jinja2`` shows besides the rows: the filter's values and choices
    (``people``: a query of user ids and names) and the paging links."""
    filter_query = {k: v for k, v in values.items() if v}
    next_query = None
    if cursor is not None:
        next_query = {**filter_query, "before": f"{cursor[0].isoformat()}|{cursor[1]}"}
    names = sorted(request.dbsession.execute(people).all(), key=lambda item: item[1].lower())
    return {"rows": rows, "values": values, "kinds": reports.AUDIT_KINDS, "people": names, "next_query": next_query,
            "filter_query": filter_query, "first_page": "before" not in request.GET}


def audit_filter(params: Any) -> tuple[reports.AuditFilter, dict[str, str]]:
    """The audit page's GET parameters -> filter (400 for malformed ones, as only a hand-made URL
    sends them)."""
    values = {k: params.get(k, "").strip() for k in ("kind", "action", "user", "target", "since", "until")}
    try:
        before = None
        if params.get("before"):
            at, event_id = params["before"].rsplit("|", 1)
            moment = dt.datetime.fromisoformat(at)
            before = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC), _id(event_id))
        filters = reports.AuditFilter(
            kind=values["kind"] if values["kind"] in reports.AUDIT_KINDS else "",
            action=values["action"][:64],
            user_id=_id(values["user"], parse_user_id) if values["user"] else None,
            target=values["target"][:200],
            since=dt.date.fromisoformat(values["since"]) if values["since"] else None,
            until=dt.date.fromisoformat(values["until"]) if values["until"] else None,
            before=before,
        )
    except ValueError:
        raise HTTPBadRequest() from None
    return filters, values
