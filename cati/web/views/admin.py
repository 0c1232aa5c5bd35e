"""User administration: researchers see the list (to staff studies), only admins create users,
deactivate and reactivate them and set their passwords (which ends the user's sessions)."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config, view_defaults
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cati.models import Role, User
from cati.services import reports
from cati.services.users import UserError, create_user, set_active, set_password

from ..i18n import LOCALES, _
from ..schemas import ActiveSchema, PasswordSchema, UserCreateSchema, validate
from ..security import Permission
from .account import password_form
from .supervisor import TZ, audit_filter, audit_page


@view_config(route_name="admin.users", request_method="GET", renderer="admin/users.jinja2",
             permission=Permission.USER_LIST)
def user_list(request: Any, problem: str | None = None) -> dict[str, Any]:
    users = request.dbsession.scalars(
        select(User).options(selectinload(User.client)).order_by(User.role, User.username)
    ).all()
    return {"users": users, "problem": problem}


@view_config(route_name="admin.audit", request_method="GET", renderer="admin/audit.jinja2",
             permission=Permission.USER_MANAGE)
def audit(request: Any) -> dict[str, Any]:
    """The audit trail of what belongs to no study: user accounts (created, (de)activated,
    passwords) and the do-not-call list. Study events (skills too) are on each study's trail."""
    filters, values = audit_filter(request.GET)
    rows, cursor = reports.audit_trail(request.dbsession, None, filters, tz=TZ)
    return audit_page(request, rows, cursor, values, select(User.id, User.display_name))


def _target(request: Any) -> User:
    """The user named by ``{user_id}``; 404 if there is none."""
    user = request.dbsession.get(User, int(request.matchdict["user_id"]))
    if user is None:
        raise HTTPNotFound()
    return user


@view_config(route_name="admin.user_active", request_method="POST", renderer="admin/users.jinja2",
             permission=Permission.USER_MANAGE)
def user_active(request: Any) -> Any:
    """Deactivate or reactivate a user; either ends all of their sessions."""
    user = _target(request)
    translate = request.localizer.translate
    values, errors = validate(ActiveSchema(), request.POST, translate)
    if errors:
        request.response.status_int = 422
        return user_list(request, problem=" ".join(errors.values()))
    active = values["active"] == "1"
    if not active and user.id == request.identity.id:
        request.response.status_int = 422
        return user_list(request, problem=translate(_("You cannot deactivate your own account.")))
    try:
        set_active(request.dbsession, user, active, actor_id=request.identity.id)
    except UserError as exc:
        request.response.status_int = 422
        return user_list(request, problem=str(exc))
    message = (_("User ${username} activated.", mapping={"username": user.username}) if active else
               _("User ${username} deactivated; their sessions have ended.", mapping={"username": user.username}))
    request.session.flash(translate(message), "success")
    return HTTPSeeOther(request.route_url("admin.users"))


@view_defaults(route_name="admin.user_password", renderer="account/password.jinja2",
               permission=Permission.USER_MANAGE)
class UserPasswordViews:
    """An admin sets a user's password (a forgotten one, or one that may be known to others)."""

    def __init__(self, context: Any, request: Any) -> None:
        self.request = request
        self.user = _target(request)
        if self.user.id == request.identity.id:
            # One's own password only with the current one (and its throttle): a session left open
            # must not be enough to take over an admin account.
            raise HTTPSeeOther(request.route_url("account.password"))

    def _form(self, status: int = 200, **values: Any) -> dict[str, Any]:
        return password_form(self.request, status, subject=self.user,
                             action=self.request.route_url("admin.user_password", user_id=self.user.id), **values)

    @view_config(request_method="GET")
    def show(self) -> dict[str, Any]:
        return self._form()

    @view_config(request_method="POST")
    def submit(self) -> Any:
        request = self.request
        values, errors = validate(PasswordSchema(), request.POST, request.localizer.translate)
        if errors:
            return self._form(422, errors=errors)
        try:
            set_password(request.dbsession, self.user, values["password"], actor_id=request.identity.id)
        except UserError as exc:
            return self._form(422, problem=str(exc))
        request.session.flash(request.localizer.translate(_(
            "Password of ${username} changed; their sessions have ended.",
            mapping={"username": self.user.username},
        )), "success")
        return HTTPSeeOther(request.route_url("admin.users"))


@view_defaults(route_name="admin.user_new", renderer="admin/user_new.jinja2", permission=Permission.USER_CREATE)
class UserCreateViews:
    def __init__(self, context: Any, request: Any) -> None:
        self.request = request

    def _form(self, status: int = 200, **values: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        return {"roles": [r.value for r in Role], "locales": LOCALES, "values": {}, "errors": {},
                "problem": None, **values}

    @view_config(request_method="GET")
    def show(self) -> dict[str, Any]:
        return self._form(values={"role": Role.INTERVIEWER.value})

    @view_config(request_method="POST")
    def create(self) -> Any:
        request = self.request
        entered = {k: v for k, v in request.POST.items() if not k.startswith("password") and k != "csrf_token"}
        values, errors = validate(UserCreateSchema(), request.POST, request.localizer.translate)
        if errors:
            return self._form(422, values=entered, errors=errors)
        try:
            user = create_user(
                request.dbsession,
                values["username"],
                role=values["role"],
                password=values["password"],
                display_name=values["display_name"] or None,
                first_name=values["first_name"] or None,
                client=values["client"] or None,
                locale=values["locale"] or None,
                actor_id=request.identity.id,
            )
        except UserError as exc:
            return self._form(422, values=entered, problem=str(exc))
        request.session.flash(
            request.localizer.translate(_("User ${username} created.", mapping={"username": user.username})),
            "success",
        )
        return HTTPSeeOther(request.route_url("admin.users"))
