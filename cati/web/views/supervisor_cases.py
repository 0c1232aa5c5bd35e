"""Cases for supervisors: search by reference or telephone number, one case's history and
callability, and the actions on it - release, hand to another interviewer, finalise, set an
appointment, show the contact data (recorded in the audit trail). Every action goes through
:mod:`cati.services.case_admin`, which checks it and writes the audit trail.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config, view_defaults
from sqlalchemy import select

from cati.models import Case, CasePhone, Contact, User
from cati.models.meta import utcnow
from cati.services import audit, case_admin, fieldwork, scheduler
from cati.services.case_admin import CaseAdminError

from ..i18n import _
from ..resources import StudyContext, parse_id, parse_user_id
from ..security import Permission
from .studies import attempt
from .supervisor import STATE_LABELS, TZ, SupervisorPage

#: Why a case is in the due list (``scheduler.TIER_REASON``), in delivery order.
DUE_REASONS = {"appointment": _("appointment"), "retry": _("retry"), "fresh": _("fresh case")}
DUE_LIMIT, DUE_LIMIT_MAX = 100, 1000


def fieldwork_local(moment: Any) -> str:
    """``moment`` as the value of a datetime-local field in call-centre time."""
    return str(moment.astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%dT%H:%M"))


@view_defaults(permission=Permission.STUDY_SUPERVISE)
class CaseViews(SupervisorPage):
    def __init__(self, context: StudyContext, request: Any) -> None:
        super().__init__(context, request)

    @view_config(route_name="supervisor.cases", request_method="GET", renderer="supervisor/cases.jinja2")
    def search(self) -> dict[str, Any]:
        query = self.request.GET.get("q", "")[:100]
        result = case_admin.search(self.request.dbsession, self.study, query, actor_id=self.actor_id) \
            if query.strip() else None
        return self.base(query=query, result=result, outcome_labels=self.outcome_labels(),
                         state_labels={k: self.translate(v) for k, v in STATE_LABELS.items()},
                         limit=case_admin.SEARCH_LIMIT)

    # ------------------------------------------------------------------ due now
    @view_config(route_name="supervisor.due", request_method="GET", renderer="supervisor/due.jinja2")
    def due(self) -> dict[str, Any]:
        """The web view of ``cati sample due``: the cases "Next case" would deliver, in that order,
        now or at a moment the supervisor names (call-centre time)."""
        raw_at = self.request.GET.get("at", "").strip()[:40]
        raw_limit = self.request.GET.get("limit", "")
        limit = min(max(int(raw_limit), 1), DUE_LIMIT_MAX) if raw_limit.isdigit() else DUE_LIMIT
        at, error = utcnow(), None
        if raw_at:
            try:
                at = case_admin.parse_local(raw_at, TZ)
            except CaseAdminError:
                error = self.translate(_("Give a date and time such as 2026-11-25T18:00."))
                self.request.response.status_int = 400
        due = [] if error else scheduler.due_cases(self.request.dbsession, self.study, at, limit=limit)
        return self.base(at=at, at_value=raw_at or fieldwork_local(at), error=error, due=due, limit=limit,
                         reasons={k: self.translate(v) for k, v in DUE_REASONS.items()})

    # ------------------------------------------------------------------ one case

    def _case(self) -> Case:
        case_id = parse_id(self.request.matchdict["case_id"])
        case = case_admin.get_case(self.request.dbsession, self.study, case_id) if case_id is not None else None
        if case is None:
            raise HTTPNotFound()
        return case

    def page(self, case: Case, status: int = 200, **extra: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        session = self.request.dbsession
        detail = case_admin.detail(session, self.study, case)
        labels = self.outcome_labels()
        finalise = [(code, labels.get(code, code)) for code in case_admin.finalise_outcomes(self.study)]
        data = self.base(
            case=case,
            detail=detail,
            outcome_labels=labels,
            state_labels={k: self.translate(v) for k, v in STATE_LABELS.items()},
            interviewers=fieldwork.interviewers(session, self.study),
            finalise_outcomes=finalise,
            next_local=case_admin.local_time(case, case.next_call_at),
            contact=None,
            problems=[],
            problem_form=None,
            values={},
            tz=TZ,
        )
        data.update(extra)
        return data

    def refused(self, case: Case, form: str, problems: list[str], **extra: Any) -> dict[str, Any]:
        return self.page(case, 422, problems=problems, problem_form=form, **extra)

    def done(self, case: Case, message: Any) -> HTTPSeeOther:
        self.request.dbsession.flush()
        self.request.session.flash(self.translate(message), "success")
        return HTTPSeeOther(self.request.route_url("supervisor.case", slug=self.study.slug, case_id=case.id))

    @view_config(route_name="supervisor.case", request_method="GET", renderer="supervisor/case.jinja2")
    def show(self) -> dict[str, Any]:
        return self.page(self._case())

    @view_config(route_name="supervisor.case_contact", request_method="POST", renderer="supervisor/case.jinja2")
    def contact(self) -> dict[str, Any]:
        """Show the contact data (name, numbers) - on request only, and recorded."""
        case = self._case()
        session = self.request.dbsession
        contact = session.get(Contact, case.id)
        numbers = list(session.scalars(select(CasePhone.e164).where(CasePhone.case_id == case.id)
                                       .order_by(CasePhone.position)))
        audit.record(session, "contact.view", user_id=self.actor_id, study_id=self.study.id, target=f"case:{case.ref}",
                     details={"numbers": len(numbers)})
        return self.page(case, contact={"name": contact.name if contact else "", "numbers": numbers})

    @view_config(route_name="supervisor.case_release", request_method="POST", renderer="supervisor/case.jinja2")
    def release(self) -> Any:
        case = self._case()
        try:
            attempt(self.request, lambda: case_admin.release(self.request.dbsession, case, actor_id=self.actor_id))
        except CaseAdminError as exc:
            return self.refused(case, "release", [str(exc)])
        return self.done(case, _("The case is back in the pool."))

    def _interviewer(self, case: Case, form: str) -> User | dict[str, Any] | None:
        raw = self.request.POST.get("user_id", "")
        if raw in ("", "anyone"):
            return None
        user_id = parse_user_id(raw)
        user = self.request.dbsession.get(User, user_id) if user_id is not None else None
        if user is None:
            return self.refused(case, form, [self.translate(_("Please choose a person."))])
        return user

    @view_config(route_name="supervisor.case_reassign", request_method="POST", renderer="supervisor/case.jinja2")
    def reassign(self) -> Any:
        case = self._case()
        if "user_id" not in self.request.POST:
            return self.refused(case, "reassign", [self.translate(_("Please choose a person."))])
        user = self._interviewer(case, "reassign")
        if isinstance(user, dict):
            return user
        try:
            attempt(self.request, lambda: case_admin.reassign(self.request.dbsession, self.study, case, user,
                                                              actor_id=self.actor_id))
        except CaseAdminError as exc:
            return self.refused(case, "reassign", [str(exc)])
        return self.done(case, _("The case was handed over."))

    @view_config(route_name="supervisor.case_finalise", request_method="POST", renderer="supervisor/case.jinja2")
    def finalise(self) -> Any:
        case = self._case()
        post = self.request.POST
        values = {"outcome": post.get("outcome", ""), "note": post.get("note", "")}
        salt = self.request.registry.settings.get("cati.dnc_salt", "cati-dnc")
        try:
            attempt(self.request, lambda: case_admin.finalise(
                self.request.dbsession, self.study, case, values["outcome"], values["note"], actor_id=self.actor_id,
                dnc_salt=salt))
        except CaseAdminError as exc:
            return self.refused(case, "finalise", [str(exc)], values=values)
        return self.done(case, _("The case was closed."))

    @view_config(route_name="supervisor.case_appointment", request_method="POST", renderer="supervisor/case.jinja2")
    def appointment(self) -> Any:
        case = self._case()
        post = self.request.POST
        values = {"at": post.get("at", ""), "note": post.get("note", ""), "user_id": post.get("user_id", "")}
        user = self._interviewer(case, "appointment")
        if isinstance(user, dict):
            return user
        try:
            at = case_admin.parse_local(values["at"], case.zone.tz)
            attempt(self.request, lambda: case_admin.set_appointment(
                self.request.dbsession, self.study, case, at, user=user, note=values["note"], actor_id=self.actor_id))
        except CaseAdminError as exc:
            return self.refused(case, "appointment", [str(exc)], values=values)
        return self.done(case, _("The appointment was set."))
