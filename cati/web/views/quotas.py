"""The quota page of a study: every cell with target, completes, pending, remaining, rejected
interviews and attempts per complete, and forms to change a cell's target and a quota's mode.

Supervisors of the study, admins and researchers (permission ``study:supervise``). Changes go
through :mod:`cati.services.quotas` (the same path as ``cati study set SLUG quota.Q.C=N``), which
updates the counters under their row locks, holds or releases cases, and audits the change.
"""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config, view_defaults

from cati.questionnaires.errors import QuestionnaireError
from cati.sampling import fieldwork_settings
from cati.sampling.quotas import MODES
from cati.services import quotas as quota_service
from cati.services.studies import StudyError

from ..i18n import _
from ..resources import StudyContext
from ..security import Permission
from .studies import attempt

MODE_LABELS = {
    "hard": _("hard: a full cell ends the interview"),
    "soft": _("soft: may exceed the target by the overshoot share"),
    "counter": _("counter: counts only"),
}
MAX_TARGET = 10_000_000


@view_defaults(renderer="quotas/index.jinja2", permission=Permission.STUDY_SUPERVISE)
class QuotaViews:
    def __init__(self, context: StudyContext, request: Any) -> None:
        self.context = context
        self.study = context.study
        self.request = request
        self.translate = request.localizer.translate

    def _status(self) -> list[quota_service.QuotaStatus]:
        try:
            return quota_service.cell_status(self.request.dbsession, self.study)
        except QuestionnaireError:  # a stored version always compiles; be safe anyway
            return []

    def page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        settings = fieldwork_settings.effective(self.study.purpose, self.study.settings or {})
        data = {
            "study": self.study,
            "quotas": self._status(),
            "modes": [(mode, self.translate(MODE_LABELS[mode])) for mode in MODES],
            "mode_labels": {mode: self.translate(text) for mode, text in MODE_LABELS.items()},
            "quota_priority": bool(settings.get("quota_priority")),
            "problems": [],
            "problem_form": None,
            "problem_quota": None,
            "values": {},
        }
        data.update(extra)
        return data

    def refused(self, form: str, problems: list[str], values: dict[str, str]) -> dict[str, Any]:
        data = self.page(422, problems=problems, problem_form=form, values=values)
        known = {q.id for q in data["quotas"]}
        data["problem_quota"] = values.get("quota") if values.get("quota") in known else None
        return data

    def done(self, message: Any) -> HTTPSeeOther:
        self.request.dbsession.flush()
        self.request.session.flash(self.translate(message), "success")
        return HTTPSeeOther(self.request.route_url("study.quotas", slug=self.study.slug))

    def _known(self) -> dict[str, set[str]]:
        return {q.id: {c.cell for c in q.cells} for q in self._status()}

    @view_config(route_name="study.quotas", request_method="GET")
    def show(self) -> dict[str, Any]:
        return self.page()

    @view_config(route_name="study.quota_target", request_method="POST")
    def change_target(self) -> Any:
        post = self.request.POST
        quota, cell, raw = post.get("quota", ""), post.get("cell", ""), post.get("target", "").strip()
        values = {"quota": quota, "cell": cell, "target": raw}
        form = f"target-{quota}-{cell}"
        if cell not in self._known().get(quota, set()):
            return self.refused(form, [self.translate(_("Please choose a quota cell."))], values)
        target: int | None
        if raw.lower() in ("", "null", "none", "-", "–"):
            target = None
        else:
            try:
                target = int(raw)
            except ValueError:
                target = -1
            if not 0 <= target <= MAX_TARGET:
                return self.refused(form, [self.translate(
                    _("The target must be a whole number from 0 to ${max}, or empty for no limit.",
                      mapping={"max": MAX_TARGET}))], values)
        try:
            attempt(self.request, lambda: quota_service.set_target(
                self.request.dbsession, self.study, quota, cell, target, actor_id=self.request.identity.id))
        except StudyError as exc:
            return self.refused(form, exc.problems, values)
        if target is None:
            return self.done(_("Cell ${quota}.${cell} now counts without a limit.",
                               mapping={"quota": quota, "cell": cell}))
        return self.done(_("Target of ${quota}.${cell} set to ${target}.",
                           mapping={"quota": quota, "cell": cell, "target": target}))

    @view_config(route_name="study.quota_mode", request_method="POST")
    def change_mode(self) -> Any:
        post = self.request.POST
        quota, mode, overshoot = post.get("quota", ""), post.get("mode", ""), post.get("overshoot", "").strip()
        values = {"quota": quota, "mode": mode, "overshoot": overshoot}
        form = f"mode-{quota}"
        if quota not in self._known():
            return self.refused(form, [self.translate(_("Please choose a quota."))], values)
        if mode not in MODES:
            return self.refused(form, [self.translate(_("Please choose a mode."))], values)
        share: float | None = None
        if overshoot:
            try:
                share = fieldwork_settings.QUOTA_KEYS["overshoot"](overshoot)
            except ValueError:
                return self.refused(form, [self.translate(
                    _("The overshoot is a share such as 10% or 0.1, between 0 and 100 %."))], values)
        try:
            attempt(self.request, lambda: quota_service.set_mode(
                self.request.dbsession, self.study, quota, mode, overshoot=share, actor_id=self.request.identity.id))
        except StudyError as exc:
            return self.refused(form, exc.problems, values)
        return self.done(_("Mode of quota ${quota} changed.", mapping={"quota": quota}))
