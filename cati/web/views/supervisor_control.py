"""Fieldwork control for supervisors: open, pause or close the study; calling rules, attempt
limits and retry delays; the eligibility estimate ``e``; the interviewers of the study and their
skills. (Quota targets are changed on the quota page.)

Changes go through the services (:mod:`cati.services.studies`, :mod:`cati.services.fieldwork`),
which validate everything before changing anything and write the audit trail; each runs in a
savepoint, so a refusal re-renders the page (422) with the reasons and leaves the study as it was.
Supervisors may assign and remove interviewers only; other roles are the admins' business.
"""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config, view_defaults
from sqlalchemy import select

from cati.models import Role, StudyMember, User
from cati.sampling import fieldwork_settings
from cati.services import fieldwork
from cati.services import studies as study_service
from cati.services.fieldwork import FieldworkError
from cati.services.studies import StudyError

from ..i18n import _
from ..resources import StudyContext, parse_user_id
from ..security import Permission
from .studies import attempt
from .supervisor import SupervisorPage

#: Statuses a supervisor may set (drafts are the researchers' business).
SUPERVISOR_STATUSES = ("field", "paused", "closed")
STATUS_ACTIONS = {"field": _("Open (in field)"), "paused": _("Pause"), "closed": _("Close")}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: (setting, kind, label) of the calling rules form; kind: choice, text, bool or int.
RULE_FIELDS = (
    ("calling_profile", "choice", _("Calling hours profile")),
    ("calling_windows", "text", _("Calling windows (custom profile)")),
    ("allow_sunday_holiday", "bool", _("Calls on Sundays and holidays (adm)")),
    ("expected_duration", "int", _("Expected interview length (minutes)")),
    ("max_attempts", "int", _("Attempts per case")),
    ("max_attempts_per_day", "int", _("Attempts per case and day")),
    ("retry.no_answer", "int", _("Retry after no answer (minutes)")),
    ("retry.busy", "int", _("Retry after busy (minutes)")),
    ("retry.answering_machine", "int", _("Retry after an answering machine (minutes)")),
    ("retry.soft_refusal", "int", _("Retry after a soft refusal (minutes)")),
    ("appointment_grace", "int", _("Hard appointment waits for its interviewer (minutes)")),
    ("priority", "int", _("Priority among the interviewers' studies (0-100)")),
)
PROFILE_LABELS = {"adm": _("ADM research: Mon-Fri 9-21, Sat 10-20"), "ddv": _("DDV: Mon-Sat 8-20"),
                  "custom": _("custom windows")}


def windows_text(value: Any) -> str:
    """Stored windows ``[[0, 4, "09:00", "21:00"], ...]`` -> ``mon-fri 09:00-21:00; ...``."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    parts = []
    for first, last, start, end in value:
        days = DAYS[int(first)] if first == last else f"{DAYS[int(first)]}-{DAYS[int(last)]}"
        parts.append(f"{days} {start}-{end}")
    return "; ".join(parts)


def shown_value(kind: str, value: Any) -> str:
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "text":
        return windows_text(value)
    return "" if value is None else str(value)


@view_defaults(renderer="supervisor/control.jinja2", permission=Permission.STUDY_SUPERVISE)
class ControlViews(SupervisorPage):
    def __init__(self, context: StudyContext, request: Any) -> None:
        super().__init__(context, request)

    def page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        session = self.request.dbsession
        effective = fieldwork_settings.effective(self.study.purpose, self.study.settings or {})
        members = fieldwork.interviewers(session, self.study)
        member_ids = {u.id for u in members}
        candidates = [u for u in session.scalars(
            select(User).where(User.role == Role.INTERVIEWER.value, User.active.is_(True)).order_by(User.display_name)
        ) if u.id not in member_ids]
        settings = self.study.settings or {}
        data = self.base(
            statuses=[(s, self.translate(STATUS_ACTIONS[s])) for s in SUPERVISOR_STATUSES],
            rule_fields=[(key, kind, self.translate(label)) for key, kind, label in RULE_FIELDS],
            profiles=[(p, self.translate(PROFILE_LABELS[p])) for p in fieldwork_settings.PROFILES],
            current_values={key: shown_value(kind, effective.get(key)) for key, kind, _label in RULE_FIELDS},
            values={},
            e_value=settings.get(fieldwork.E_KEY),
            e_basis=settings.get(fieldwork.E_BASIS_KEY, ""),
            members=members,
            candidates=candidates,
            supervisors=list(session.scalars(
                select(User).join(StudyMember, StudyMember.user_id == User.id)
                .where(StudyMember.study_id == self.study.id, User.role == Role.SUPERVISOR.value)
                .order_by(User.display_name))),
            problems=[],
            problem_form=None,
        )
        data.update(extra)
        return data

    def refused(self, form: str, problems: list[str], **extra: Any) -> dict[str, Any]:
        return self.page(422, problems=problems, problem_form=form, **extra)

    def done(self, message: Any, anchor: str = "") -> HTTPSeeOther:
        self.request.dbsession.flush()
        self.request.dbsession.expire(self.study)
        self.request.session.flash(self.translate(message), "success")
        return HTTPSeeOther(self.request.route_url("supervisor.control", slug=self.study.slug, _anchor=anchor or None))

    @view_config(route_name="supervisor.control", request_method="GET")
    def show(self) -> dict[str, Any]:
        return self.page()

    @view_config(route_name="supervisor.status", request_method="POST")
    def change_status(self) -> Any:
        status = self.request.POST.get("status", "")
        if status not in SUPERVISOR_STATUSES:
            return self.refused("status", [self.translate(_("Please choose one of the offered values."))])
        try:
            attempt(self.request, lambda: study_service.set_status(
                self.request.dbsession, self.study, status, actor_id=self.actor_id))
        except StudyError as exc:
            return self.refused("status", exc.problems)
        return self.done(_("Status changed."), "status-heading")

    @view_config(route_name="supervisor.settings", request_method="POST")
    def change_settings(self) -> Any:
        post = self.request.POST
        effective = fieldwork_settings.effective(self.study.purpose, self.study.settings or {})
        changes: dict[str, str] = {}
        for key, kind, _label in RULE_FIELDS:
            if key not in post:
                continue
            value = post[key].strip()
            if value == shown_value(kind, effective.get(key)) or (kind != "text" and not value):
                continue
            changes[key] = value
        submitted = {key: post.get(key, "") for key, _kind, _label in RULE_FIELDS}
        if not changes:
            return self.refused("settings", [self.translate(_("No value differs from the current settings."))],
                                values=submitted)
        try:
            attempt(self.request, lambda: study_service.update_settings(
                self.request.dbsession, self.study, changes, actor_id=self.actor_id))
        except StudyError as exc:
            return self.refused("settings", exc.problems, values=submitted)
        return self.done(_("Settings saved."), "rules-heading")

    @view_config(route_name="supervisor.estimate", request_method="POST")
    def change_estimate(self) -> Any:
        post = self.request.POST
        mode = post.get("mode", "")
        basis = post.get("basis", "")
        if mode == "proportional":
            value = None
        elif mode == "value":
            try:
                value = float(post.get("e", "").strip().replace(",", "."))
            except ValueError:
                return self.refused("estimate", [self.translate(_("e must be a number between 0 and 1."))])
        else:
            return self.refused("estimate", [self.translate(_("Please choose one of the offered values."))])
        try:
            attempt(self.request, lambda: fieldwork.set_eligibility_estimate(
                self.request.dbsession, self.study, value, basis, actor_id=self.actor_id))
        except FieldworkError as exc:
            return self.refused("estimate", [str(exc)])
        return self.done(_("The eligibility estimate was saved."), "estimate-heading")

    def _user(self, form: str) -> User | dict[str, Any]:
        user_id = parse_user_id(self.request.POST.get("user_id", ""))
        user = self.request.dbsession.get(User, user_id) if user_id is not None else None
        if user is None:
            return self.refused(form, [self.translate(_("Please choose a person."))])
        return user

    @view_config(route_name="supervisor.member_add", request_method="POST")
    def add_member(self) -> Any:
        user = self._user("team")
        if not isinstance(user, User):
            return user
        if user.role != Role.INTERVIEWER.value or not user.active:
            return self.refused("team", [self.translate(_("Supervisors assign active interviewers."))])
        try:
            attempt(self.request, lambda: study_service.assign_member(
                self.request.dbsession, self.study, user, actor_id=self.actor_id))
        except StudyError as exc:
            return self.refused("team", exc.problems)
        return self.done(_("${name} assigned.", mapping={"name": user.display_name}), "team-heading")

    @view_config(route_name="supervisor.member_remove", request_method="POST")
    def remove_member(self) -> Any:
        user = self._user("team")
        if not isinstance(user, User):
            return user
        if user.role != Role.INTERVIEWER.value:
            return self.refused("team", [self.translate(_("Supervisors remove interviewers only."))])
        attempt(self.request, lambda: study_service.remove_member(
            self.request.dbsession, self.study, user, actor_id=self.actor_id))
        return self.done(_("${name} removed from the study.", mapping={"name": user.display_name}), "team-heading")

    @view_config(route_name="supervisor.skills", request_method="POST")
    def change_skills(self) -> Any:
        user = self._user("team")
        if not isinstance(user, User):
            return user
        post = self.request.POST
        languages = [part for part in post.get("languages", "").replace(";", ",").replace(" ", ",").split(",")
                     if part.strip()]
        try:
            attempt(self.request, lambda: fieldwork.set_interviewer_skills(
                self.request.dbsession, self.study, user, languages=languages,
                refusal_conversion=post.get("refusal_conversion") == "yes", actor_id=self.actor_id))
        except FieldworkError as exc:
            return self.refused("team", [str(exc)])
        return self.done(_("Skills of ${name} saved.", mapping={"name": user.display_name}), "team-heading")
