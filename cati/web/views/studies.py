"""Studies: the list, creating one from a questionnaire file, and the study page with its
versions, members, status and fieldwork settings.

Every change goes through :mod:`cati.services.studies`, which records it in the audit trail. A
refused change re-renders the study page with the reasons (status 422) and changes nothing: the
service call runs inside a savepoint that is rolled back when it raises.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import colander
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config, view_defaults
from sqlalchemy import select

from cati.models import Purpose, Role, StudyStatus, User
from cati.services import studies as study_service
from cati.services.scheduler import rules_for
from cati.services.studies import StudyError

from ..i18n import _
from ..resources import StudyContext, parse_user_id
from ..schemas import MemberSchema, StatusSchema, StudyCreateSchema, parse_settings_text, validate
from ..security import Permission

#: Questionnaires are a few hundred lines; anything far larger is a wrong file.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
ASSIGNABLE_ROLES = (Role.SUPERVISOR.value, Role.INTERVIEWER.value)


class UploadError(ValueError):
    pass


def uploaded(request: Any, field: str) -> Any | None:
    """The file posted in ``field``, or None when none was chosen."""
    upload = request.POST.get(field)
    if upload is None or not hasattr(upload, "file") or not upload.filename:
        return None
    return upload


def upload_name(upload: Any, default: str) -> str:
    """The uploaded file's name for messages: browsers send a bare name, old ones a client path."""
    return PureWindowsPath(PurePosixPath(upload.filename).name).name or default


def read_upload(request: Any, field: str = "questionnaire") -> tuple[str, str]:
    """(text, file name) of an uploaded questionnaire; UploadError with a translated message."""
    upload = uploaded(request, field)
    if upload is None:
        raise UploadError(_("Please choose a questionnaire file (YAML)."))
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(_("The file is larger than 2 MB; is it really a questionnaire?"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(_("The file is not UTF-8 text. Please save it as UTF-8.")) from None
    return text, upload_name(upload, "questionnaire.yaml")


def attempt(request: Any, change: Callable[[], Any]) -> Any:
    """Run a service call in a savepoint so that a refusal leaves the database untouched."""
    with request.dbsession.begin_nested():
        return change()


@view_config(route_name="study.list", request_method="GET", renderer="studies/list.jinja2",
             permission=Permission.STUDY_LIST)
def study_list(request: Any) -> dict[str, Any]:
    return {"studies": list(request.dbsession.scalars(study_service.studies_visible_to(request.identity)))}


@view_defaults(route_name="study.new", renderer="studies/new.jinja2", permission=Permission.STUDY_CREATE)
class StudyCreateViews:
    def __init__(self, context: Any, request: Any) -> None:
        self.request = request

    def _form(self, status: int = 200, **values: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        return {"purposes": [p.value for p in Purpose], "values": {"purpose": Purpose.RESEARCH.value},
                "errors": {}, "problems": [], **values}

    @view_config(request_method="GET")
    def show(self) -> dict[str, Any]:
        return self._form()

    @view_config(request_method="POST")
    def create(self) -> Any:
        request = self.request
        translate = request.localizer.translate
        fields = {k: request.POST.get(k, "") for k in ("name", "slug", "purpose", "client")}
        values, errors = validate(StudyCreateSchema(), fields, translate)
        try:
            source, source_name = read_upload(request)
        except UploadError as exc:
            errors["questionnaire"] = translate(exc.args[0])
        if errors:
            return self._form(422, values=fields, errors=errors)
        try:
            study = attempt(request, lambda: study_service.create_study(
                request.dbsession,
                source=source,
                source_name=source_name,
                name=values["name"] or None,
                slug=values["slug"] or None,
                purpose=values["purpose"],
                client=values["client"] or None,
                actor_id=request.identity.id,
            ))
        except StudyError as exc:
            return self._form(422, values=fields, problems=exc.problems)
        request.session.flash(translate(_("Study ${name} created.", mapping={"name": study.name})), "success")
        return HTTPSeeOther(request.route_url("study.detail", slug=study.slug))


class StudyViews:
    """The study page and the forms on it; each POST redirects back to it on success."""

    def __init__(self, context: StudyContext, request: Any) -> None:
        self.context = context
        self.study = context.study
        self.request = request
        self.translate = request.localizer.translate

    def page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        request, study = self.request, self.study
        self.request.response.status_int = status
        can_manage = request.has_permission(Permission.STUDY_MANAGE, self.context)
        can_supervise = request.has_permission(Permission.STUDY_SUPERVISE, self.context)
        publishers = {v.published_by_id for v in study.versions if v.published_by_id}
        names = dict(request.dbsession.execute(
            select(User.id, User.display_name).where(User.id.in_(publishers))
        ).all()) if publishers else {}
        members = sorted((m.user for m in study.members), key=lambda u: (u.role, u.display_name.lower()))
        candidates: list[User] = []
        if can_manage:
            member_ids = {u.id for u in members}
            candidates = [u for u in request.dbsession.scalars(
                select(User).where(User.role.in_(ASSIGNABLE_ROLES), User.active.is_(True))
                .order_by(User.role, User.display_name)
            ) if u.id not in member_ids]
        data = {
            "study": study,
            "versions": list(reversed(study.versions)),
            "publisher_names": names,
            "can_manage": can_manage,
            "can_supervise": can_supervise,
            "members": members if (can_manage or can_supervise) else [],
            "candidates": candidates,
            "statuses": [s.value for s in StudyStatus],
            "settings": study_service.describe_settings(study) if (can_manage or can_supervise) else {},
            "outcomes": list(rules_for(study).outcomes.values()) if (can_manage or can_supervise) else [],
            "settings_text": "",
            "errors": {},
            "problems": [],
            "problem_form": None,
        }
        data.update(extra)
        return data

    def refused(self, form: str, problems: list[str], **extra: Any) -> dict[str, Any]:
        return self.page(422, problems=problems, problem_form=form, **extra)

    def done(self, message: Any) -> HTTPSeeOther:
        # The services add and delete rows beside the study; reload its collections (matters when
        # one session spans requests, as in the functional tests).
        self.request.dbsession.flush()
        self.request.dbsession.expire(self.study)
        self.request.session.flash(self.translate(message), "success")
        return HTTPSeeOther(self.request.route_url("study.detail", slug=self.study.slug))

    @view_config(route_name="study.detail", request_method="GET", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_VIEW)
    def show(self) -> dict[str, Any]:
        return self.page()

    @view_config(route_name="study.version_new", request_method="POST", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_MANAGE)
    def publish(self) -> Any:
        request = self.request
        try:
            source, source_name = read_upload(request)
        except UploadError as exc:
            return self.refused("version", [self.translate(exc.args[0])])
        try:
            version = attempt(request, lambda: study_service.publish_version(
                request.dbsession, self.study, source=source, source_name=source_name, actor_id=request.identity.id
            ))
        except StudyError as exc:
            return self.refused("version", exc.problems)
        return self.done(_("Version ${version} published.", mapping={"version": version.version}))

    @view_config(route_name="study.status", request_method="POST", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_MANAGE)
    def change_status(self) -> Any:
        request = self.request
        values, errors = validate(StatusSchema(), {"status": request.POST.get("status", "")}, self.translate)
        if errors:
            return self.refused("status", list(errors.values()))
        try:
            attempt(request, lambda: study_service.set_status(
                request.dbsession, self.study, values["status"], actor_id=request.identity.id
            ))
        except StudyError as exc:
            return self.refused("status", exc.problems)
        return self.done(_("Status changed."))

    @view_config(route_name="study.settings", request_method="POST", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_MANAGE)
    def change_settings(self) -> Any:
        request = self.request
        text = request.POST.get("changes", "")
        try:
            changes = parse_settings_text(text)
        except colander.Invalid as exc:
            return self.refused("settings", [self.translate(exc.msg)], settings_text=text)
        try:
            attempt(request, lambda: study_service.update_settings(
                request.dbsession, self.study, changes, actor_id=request.identity.id
            ))
        except StudyError as exc:
            return self.refused("settings", exc.problems, settings_text=text)
        return self.done(_("Settings saved."))

    def _member(self) -> User | dict[str, Any]:
        values, errors = validate(MemberSchema(), {"user_id": self.request.POST.get("user_id", "")}, self.translate)
        if errors:
            return self.refused("members", list(errors.values()))
        user_id = parse_user_id(values["user_id"])
        user = self.request.dbsession.get(User, user_id) if user_id is not None else None
        if user is None:
            return self.refused("members", [self.translate(_("Please choose a person."))])
        return user

    @view_config(route_name="study.member_add", request_method="POST", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_MANAGE)
    def add_member(self) -> Any:
        request = self.request
        user = self._member()
        if not isinstance(user, User):
            return user
        if user.role not in ASSIGNABLE_ROLES or not user.active:
            return self.refused("members", [self.translate(
                _("Only active supervisors and interviewers are assigned to studies; clients see the "
                  "studies of their organisation, admins and researchers see all."))])
        try:
            attempt(request, lambda: study_service.assign_member(
                request.dbsession, self.study, user, actor_id=request.identity.id
            ))
        except StudyError as exc:
            return self.refused("members", exc.problems)
        return self.done(_("${name} assigned.", mapping={"name": user.display_name}))

    @view_config(route_name="study.member_remove", request_method="POST", renderer="studies/detail.jinja2",
                 permission=Permission.STUDY_MANAGE)
    def remove_member(self) -> Any:
        request = self.request
        user = self._member()
        if not isinstance(user, User):
            return user
        attempt(request, lambda: study_service.remove_member(
            request.dbsession, self.study, user, actor_id=request.identity.id
        ))
        return self.done(_("${name} removed from the study.", mapping={"name": user.display_name}))
