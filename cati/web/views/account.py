"""The logged-in user's own account: changing their password."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.security import remember
from pyramid.view import view_config, view_defaults

from cati.services.users import UserError, set_password

from ..i18n import _
from ..schemas import OwnPasswordSchema, validate
from ..security import Permission
from .auth import checked_login, throttled_message


def password_form(request: Any, status: int, **values: Any) -> dict[str, Any]:
    """What account/password.jinja2 needs: ``subject`` (the user an admin sets the password of, or
    ``None`` for one's own), ``current`` (ask for the current password) and the form's ``action``."""
    request.response.status_int = status
    return {"subject": None, "current": False, "errors": {}, "problem": None, "throttled": None, **values}


@view_defaults(route_name="account.password", renderer="account/password.jinja2", permission=Permission.APP_USE)
class OwnPasswordViews:
    """Every logged-in user: the current password, then the new one twice. Their other sessions
    end (the version is bumped); this one is remembered again with the new version."""

    def __init__(self, context: Any, request: Any) -> None:
        self.request = request

    def _form(self, status: int = 200, **values: Any) -> dict[str, Any]:
        return password_form(self.request, status, current=True, action=self.request.route_url("account.password"),
                             **values)

    @view_config(request_method="GET")
    def show(self) -> dict[str, Any]:
        return self._form()

    @view_config(request_method="POST")
    def submit(self) -> Any:
        request = self.request
        translate = request.localizer.translate
        user = request.identity
        values, errors = validate(OwnPasswordSchema(), request.POST, translate)
        if errors:
            return self._form(422, errors=errors)
        # Checked as a login: wrong current passwords count as failed logins and are throttled.
        result = checked_login(request, user.username, values["current_password"])
        if result.throttled:
            return self._form(429, throttled=throttled_message(request, result))
        if result.user is None or result.user.id != user.id:
            return self._form(422, errors={
                "current_password": translate(_("The current password is not correct."))})
        try:
            set_password(request.dbsession, user, values["password"], actor_id=user.id)
        except UserError as exc:
            return self._form(422, problem=str(exc))
        headers = remember(request, user.id)
        request.session.flash(translate(_("Your password has been changed; your other sessions have ended.")),
                              "success")
        return HTTPSeeOther(request.route_url("home"), headers=headers)
