"""Every URL of the web UI. Dotted names, ``<area>.<screen>``; the authorization matrix test
(tests/functional/test_authorization_matrix.py) lists each route and fails for a new one until its
expected statuses per role are written down there."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.static import QueryStringConstantCacheBuster

from cati.db import READ_ONLY_ROUTES_KEY

from .resources import ID_PATTERN, SMALL_ID_PATTERN, CaseContext, ConsoleRoot, StudyContext

STATIC_DIR = Path(__file__).parent / "static"

#: Routes whose GET (and HEAD) views only read. Their requests run in a read-only transaction
#: (cati.db): on SQLite it takes neither the write lock nor a place in the writers' queue, so a
#: supervisor's dashboard that reads for half a second does not hold up interviewers' answers; on
#: PostgreSQL it is ``READ ONLY`` and a write fails. The dispositions report reads here and records
#: its audit event afterwards in a short transaction of its own (cati.db.own_write_session). Left
#: out because their GET writes: the portal's file downloads (audited, but quick), the case search
#: (a search by telephone number is audited), the console's case screen (heartbeat). A route added
#: here must get a page in tests/functional/test_read_only_routes.py, which requests each on both
#: databases.
READ_ONLY_ROUTES = frozenset({
    "home",
    "admin.users",
    "admin.audit",
    "study.list",
    "study.detail",
    "study.quotas",
    "supervisor.dashboard",
    "supervisor.dashboard_json",
    "supervisor.dashboard_live",
    "supervisor.productivity",
    "supervisor.audit",
    "supervisor.control",
    "supervisor.case",
    "supervisor.due",
    "supervisor.backchecks",
    "supervisor.report",
    "portal.index",
    "portal.study",
    "portal.topline",
    "portal.downloads",
})


def static_token(directory: Path = STATIC_DIR) -> str:
    """A digest of the static files: it changes whenever one of them does, so browsers may cache
    them for a long time and still fetch a new stylesheet right after a deploy."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


#: Placeholders for row ids: digits only and few enough to fit the database's integer (a longer
#: number is a 404 here instead of an overflow in the database).
CASE_ID, CHECK_ID, JOB_ID = (f"{{{name}:{ID_PATTERN}}}" for name in ("case_id", "check_id", "job_id"))
USER_ID = f"{{user_id:{SMALL_ID_PATTERN}}}"  # users have 32-bit keys


def includeme(config: Any) -> None:
    config.registry[READ_ONLY_ROUTES_KEY] = READ_ONLY_ROUTES
    # Public, read-only: no permission, and the route matches only GET (and HEAD).
    config.add_static_view("static", "cati.web:static/", cache_max_age=30 * 86400,
                           permission=NO_PERMISSION_REQUIRED, request_method="GET")
    config.add_cache_buster("cati.web:static/", QueryStringConstantCacheBuster(static_token()))

    config.add_route("home", "/")
    config.add_route("auth.login", "/login")
    config.add_route("auth.logout", "/logout")
    config.add_route("locale.set", "/locale")

    config.add_route("admin.users", "/admin/users")
    config.add_route("admin.audit", "/admin/audit")
    config.add_route("admin.user_new", "/admin/users/new")
    config.add_route("admin.user_active", f"/admin/users/{USER_ID}/active")
    config.add_route("admin.user_password", f"/admin/users/{USER_ID}/password")
    config.add_route("account.password", "/account/password")

    # "/studies/new" must come before "/studies/{slug}"; the slug "new" is therefore reserved.
    config.add_route("study.list", "/studies")
    config.add_route("study.new", "/studies/new")
    config.add_route("study.detail", "/studies/{slug}", factory=StudyContext)
    config.add_route("study.version_new", "/studies/{slug}/versions", factory=StudyContext)
    config.add_route("study.status", "/studies/{slug}/status", factory=StudyContext)
    config.add_route("study.settings", "/studies/{slug}/settings", factory=StudyContext)
    config.add_route("study.member_add", "/studies/{slug}/members", factory=StudyContext)
    config.add_route("study.member_remove", "/studies/{slug}/members/remove", factory=StudyContext)
    config.add_route("study.quotas", "/studies/{slug}/quotas", factory=StudyContext)
    config.add_route("study.quota_target", "/studies/{slug}/quotas/target", factory=StudyContext)
    config.add_route("study.quota_mode", "/studies/{slug}/quotas/mode", factory=StudyContext)
    config.add_route("study.sample", "/studies/{slug}/sample", factory=StudyContext)

    # Supervision of a study (study:supervise): dashboard, productivity, cases, back-checks,
    # audit trail, fieldwork control, dispositions report.
    study_case = "/studies/{slug}/cases/" + CASE_ID
    supervise = (
        ("supervisor.dashboard", "/studies/{slug}/dashboard"),
        ("supervisor.dashboard_json", "/studies/{slug}/dashboard.json"),
        ("supervisor.dashboard_live", "/studies/{slug}/dashboard/live"),
        ("supervisor.productivity", "/studies/{slug}/productivity"),
        ("supervisor.audit", "/studies/{slug}/audit"),
        ("supervisor.report", "/studies/{slug}/reports/dispositions.{fmt}"),
        ("supervisor.control", "/studies/{slug}/control"),
        ("supervisor.status", "/studies/{slug}/control/status"),
        ("supervisor.settings", "/studies/{slug}/control/settings"),
        ("supervisor.estimate", "/studies/{slug}/control/estimate"),
        ("supervisor.member_add", "/studies/{slug}/control/members"),
        ("supervisor.member_remove", "/studies/{slug}/control/members/remove"),
        ("supervisor.skills", "/studies/{slug}/control/skills"),
        ("supervisor.cases", "/studies/{slug}/cases"),
        ("supervisor.due", "/studies/{slug}/due"),
        ("supervisor.case", study_case),
        ("supervisor.case_contact", study_case + "/contact"),
        ("supervisor.case_release", study_case + "/release"),
        ("supervisor.case_reassign", study_case + "/reassign"),
        ("supervisor.case_finalise", study_case + "/finalise"),
        ("supervisor.case_appointment", study_case + "/appointment"),
        ("supervisor.backchecks", "/studies/{slug}/backchecks"),
        ("supervisor.backcheck_share", "/studies/{slug}/backchecks/share"),
        ("supervisor.backcheck_draw", "/studies/{slug}/backchecks/draw"),
        ("supervisor.backcheck_result", "/studies/{slug}/backchecks/" + CHECK_ID),
    )
    for name, pattern in supervise:
        config.add_route(name, pattern, factory=StudyContext)

    # Client portal (issue 7): study list, field progress, topline, downloads (study:view,
    # study:export); the contact export has its own permission (contacts:export).
    config.add_route("portal.index", "/portal")
    portal = (
        ("portal.study", "/portal/{slug}"),
        ("portal.topline", "/portal/{slug}/topline"),
        ("portal.downloads", "/portal/{slug}/downloads"),
        ("portal.download", "/portal/{slug}/downloads/" + JOB_ID),
        ("portal.contacts", "/portal/{slug}/contacts"),
    )
    for name, pattern in portal:
        config.add_route(name, pattern, factory=StudyContext)

    # The interviewer console: the start page's "next case", inbound look-up, and one case's screen
    # with the POSTs that change it (each redirects back to the screen's GET).
    config.add_route("console.next", "/console/next", factory=ConsoleRoot)
    config.add_route("console.lookup", "/console/lookup", factory=ConsoleRoot)
    case = "/console/cases/" + CASE_ID
    config.add_route("console.case", case, factory=CaseContext)
    config.add_route("console.claim", case + "/claim", factory=CaseContext)
    config.add_route("console.start", case + "/start", factory=CaseContext)
    config.add_route("console.answer", case + "/answer", factory=CaseContext)
    config.add_route("console.back", case + "/back", factory=CaseContext)
    config.add_route("console.language", case + "/language", factory=CaseContext)
    config.add_route("console.outcome", case + "/outcome", factory=CaseContext)
    config.add_route("console.contact", case + "/contact", factory=CaseContext)
    config.add_route("console.heartbeat", case + "/heartbeat", factory=CaseContext)
