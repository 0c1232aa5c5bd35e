"""User administration: researchers see the list (to staff studies), only admins create users."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config, view_defaults
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cati.models import Role, User
from cati.services.users import UserError, create_user

from ..i18n import LOCALES, _
from ..schemas import UserCreateSchema, validate
from ..security import Permission


@view_config(route_name="admin.users", request_method="GET", renderer="admin/users.jinja2",
             permission=Permission.USER_LIST)
def user_list(request: Any) -> dict[str, Any]:
    users = request.dbsession.scalars(
        select(User).options(selectinload(User.client)).order_by(User.role, User.username)
    ).all()
    return {"users": users}


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
