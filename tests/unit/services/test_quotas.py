"""Quotas against the database: counting with pending interviews, hard/soft/counter modes,
overlapping tables, releases (end, break-off, lost interviewer, changed answer), invalidation,
delivery holds and priorities, target and mode changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, Case, QuotaCell, QuotaReservation, User
from cati.questionnaires.engine import Ended
from cati.sampling.quotas import band_of_key
from cati.services import interviews, quotas
from cati.services.sample_import import import_sample
from cati.services.scheduler import explain_case, next_case, release_stale_claims
from cati.services.studies import StudyError, assign_member, create_study, update_settings

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)

QUESTIONNAIRE = """\
format: cati/1
id: quota_test
version: 1
title: {de: "Quotentest"}
languages: [de]
dispositions:
  COMPLETE: 1
  QUOTA_FULL: {code: 31, aapor: "4.80"}
  REGION_FULL: {code: 32, aapor: "4.80"}
sample:
  - {name: region, type: single, options: [{code: 1, de: Nord}, {code: 2, de: Süd}]}
quotas:
  - id: region                       # sample fields only: known before the call
    on_full: REGION_FULL
    cells:
      - {id: nord, if: "region == 1", target: 20}
      - {id: sued, if: "region == 2", target: 20}
  - id: geschlecht
    on_full: QUOTA_FULL
    cells:
      - {id: m, if: "G == 1", target: 2}
      - {id: w, if: "G == 2", target: 2}
  - id: alter
    on_full: QUOTA_FULL
    mode: soft
    overshoot: 0.5
    cells:
      - {id: jung, if: "A == 1", target: 2}
      - {id: alt, if: "A == 2", target: 20}
  - id: zaehler
    mode: counter
    cells:
      - {id: ja, if: "G == 1", target: 1}
      - {id: rest, if: "true", target: null}
flow:
  - {id: S, type: single, text: {de: "Teilnahme?"}, options: [{code: 1, de: ja}]}
  - quota: region
  - {id: G, type: single, text: {de: "Geschlecht?"}, options: [{code: 1, de: m}, {code: 2, de: w}]}
  - quota: geschlecht
  - {id: A, type: single, text: {de: "Alter?"}, options: [{code: 1, de: jung}, {code: 2, de: alt}]}
  - quota: alter
  - quota: zaehler
  - {id: E, type: single, text: {de: "Fertig?"}, options: [{code: 1, de: ja}]}
"""


@pytest.fixture
def study(dbsession):
    study = create_study(dbsession, source=QUESTIONNAIRE, source_name="quota_test.yaml")
    update_settings(dbsession, study, {"status": "field"})
    return study


def add_cases(session, study, regions):
    start = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0
    rows = "".join(f"Q{start + i},+49 30 5{start + i:06d},{region}\n" for i, region in enumerate(regions))
    report = import_sample(session, study, ("id,phone,region\n" + rows).encode(), filename="q.csv")
    assert report.imported == len(regions), report.lines()


@pytest.fixture
def people(dbsession, study):
    users = []
    for i, name in enumerate(("anna", "ben", "cem", "dora", "emil", "fritz")):
        user = User(username=name, display_name=name.title(), first_name=name.title(), role="interviewer",
                    password_hash="x", code=f"Q{i:04d}")  # no password hashing: nobody logs in here
        dbsession.add(user)
        dbsession.flush()
        assign_member(dbsession, study, user)
        users.append(user)
    return users


def start(session, user, now=NOW):
    delivery = next_case(session, user, now=now)
    assert delivery is not None, "no case delivered"
    view = interviews.open_for_case(session, delivery.case, user, now=now)
    return delivery.case, view.interview, view.screen


def go(session, interview, user, screen, script, *, until=None, now=NOW):
    """Answer from ``script`` until the interview ends or the screen ``until`` is reached."""
    while not isinstance(screen, Ended) and screen.key != until:
        result = interviews.answer(session, interview, user, screen.key, script[screen.key], now=now)
        assert result.accepted, (screen.key, result.errors)
        screen = result.screen
    return screen


def interview(session, user, g=1, a=1, *, until=None):
    case, iv, screen = start(session, user)
    return case, iv, go(session, iv, user, screen, {"S": 1, "G": g, "A": a, "E": 1}, until=until)


def cell(session, study, quota, name):
    row = session.scalar(select(QuotaCell).where(QuotaCell.study_id == study.id, QuotaCell.quota == quota,
                                                 QuotaCell.cell == name).execution_options(populate_existing=True))
    return (row.completes, row.pending) if row else (0, 0)


def status_of(session, study, quota, name):
    return next(c for q in quotas.cell_status(session, study) if q.id == quota for c in q.cells if c.cell == name)


def test_hard_cell_counts_completes_and_turns_away_the_next(dbsession, study, people):
    add_cases(dbsession, study, [1] * 4)
    for user in people[:2]:
        _, _, ended = interview(dbsession, user, g=1)
        assert ended.disposition == "COMPLETE"
    assert cell(dbsession, study, "geschlecht", "m") == (2, 0)
    case, iv, ended = interview(dbsession, people[2], g=1)
    assert (ended.status, ended.disposition) == ("ended", "QUOTA_FULL")
    assert (case.state, case.outcome, case.aapor) == ("final", "quota_full", "4.80")
    assert iv.data["quota_geschlecht"] == 1  # the cell it fell in is exported
    status = status_of(dbsession, study, "geschlecht", "m")
    assert (status.target, status.completes, status.pending, status.remaining, status.open, status.rejected) \
        == (2, 2, 0, 0, False, 1)
    assert quotas.recount(dbsession, study) == []


def test_pending_interviews_hold_their_places(dbsession, study, people):
    add_cases(dbsession, study, [1] * 4)
    first = interview(dbsession, people[0], g=1, until="E")
    second = interview(dbsession, people[1], g=1, until="E")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 2)
    # nobody has completed yet, but both places are taken
    _, _, ended = interview(dbsession, people[2], g=1)
    assert ended.disposition == "QUOTA_FULL"
    for (_, iv, screen), user in ((first, people[0]), (second, people[1])):
        assert go(dbsession, iv, user, screen, {"E": 1}).disposition == "COMPLETE"
    assert cell(dbsession, study, "geschlecht", "m") == (2, 0)
    assert quotas.recount(dbsession, study) == []


def test_an_interview_counts_in_every_table_it_falls_into(dbsession, study, people):
    add_cases(dbsession, study, [2])
    _, iv, ended = interview(dbsession, people[0], g=2, a=1)
    assert ended.disposition == "COMPLETE"
    assert cell(dbsession, study, "region", "sued") == (1, 0)
    assert cell(dbsession, study, "geschlecht", "w") == (1, 0)
    assert cell(dbsession, study, "alter", "jung") == (1, 0)
    assert cell(dbsession, study, "zaehler", "rest") == (1, 0)
    reservations = dbsession.scalars(select(QuotaReservation.status).where(QuotaReservation.interview_id == iv.id))
    assert sorted(reservations) == ["complete"] * 4


def test_soft_cell_overshoots_by_its_share_then_closes(dbsession, study, people):
    add_cases(dbsession, study, [1] * 6)
    results = [interview(dbsession, user, g=1 + i % 2, a=1)[2].disposition for i, user in enumerate(people[:4])]
    # target 2, overshoot 50 %: three interviews, the fourth is turned away
    assert results == ["COMPLETE", "COMPLETE", "COMPLETE", "QUOTA_FULL"]
    status = status_of(dbsession, study, "alter", "jung")
    assert (status.cap, status.completes, status.remaining, status.open) == (3, 3, 0, False)


def test_counter_cells_count_without_closing(dbsession, study, people):
    add_cases(dbsession, study, [1] * 3)
    update_settings(dbsession, study, {"quota.geschlecht.m": "10"})
    for user in people[:3]:
        assert interview(dbsession, user, g=1, a=2)[2].disposition == "COMPLETE"
    status = status_of(dbsession, study, "zaehler", "ja")
    assert (status.target, status.completes, status.open, status.cap) == (1, 3, True, None)


def test_changed_answer_moves_the_reservation(dbsession, study, people):
    add_cases(dbsession, study, [1])
    _, iv, screen = interview(dbsession, people[0], g=1, until="A")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)
    screen = interviews.back(dbsession, iv, people[0], "G", now=NOW)
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)  # going back changes nothing yet
    screen = go(dbsession, iv, people[0], screen, {"G": 2}, until="A")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 0)
    assert cell(dbsession, study, "geschlecht", "w") == (0, 1)
    assert go(dbsession, iv, people[0], screen, {"A": 2, "E": 1}).disposition == "COMPLETE"
    assert cell(dbsession, study, "geschlecht", "w") == (1, 0)
    assert quotas.recount(dbsession, study) == []


def test_break_off_releases_and_resume_retakes_the_place(dbsession, study, people):
    add_cases(dbsession, study, [1] * 3)
    case, iv, _ = interview(dbsession, people[0], g=1, until="A")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)
    interviews.break_off(dbsession, iv, people[0], note="aufgelegt", now=NOW)
    assert cell(dbsession, study, "geschlecht", "m") == (0, 0)
    later = case.next_call_at
    again = next_case(dbsession, people[0], now=later)
    assert again.case.id == case.id
    view = interviews.open_for_case(dbsession, again.case, people[0], now=later)
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)
    assert go(dbsession, iv, people[0], view.screen, {"A": 1, "E": 1}, now=later).disposition == "COMPLETE"
    assert cell(dbsession, study, "geschlecht", "m") == (1, 0)


def test_resume_after_the_cell_filled_ends_with_on_full(dbsession, study, people):
    add_cases(dbsession, study, [1] * 4)
    case, iv, _ = interview(dbsession, people[0], g=1, until="A")
    interviews.break_off(dbsession, iv, people[0], note="aufgelegt", now=NOW)
    for user in people[1:3]:
        assert interview(dbsession, user, g=1)[2].disposition == "COMPLETE"
    later = case.next_call_at
    delivery = next_case(dbsession, people[0], now=later)
    assert delivery.case.id == case.id
    view = interviews.open_for_case(dbsession, delivery.case, people[0], now=later)
    assert isinstance(view.screen, Ended) and view.screen.disposition == "QUOTA_FULL"
    assert (iv.status, case.state, case.aapor) == ("ended", "final", "4.80")
    assert cell(dbsession, study, "geschlecht", "m") == (2, 0)
    assert cell(dbsession, study, "region", "nord") == (2, 0)  # its other place was given back too
    assert quotas.recount(dbsession, study) == []


def test_a_lost_interviewer_gives_the_place_back(dbsession, study, people):
    add_cases(dbsession, study, [1] * 3)
    _, iv, _ = interview(dbsession, people[0], g=1, until="A")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)
    # no heartbeat for an hour: the claim is released, and with it the place
    assert release_stale_claims(dbsession, NOW + dt.timedelta(hours=1), 1800, force=True) == 1
    assert cell(dbsession, study, "geschlecht", "m") == (0, 0)
    assert dbsession.scalar(select(QuotaReservation.status).where(QuotaReservation.interview_id == iv.id,
                                                                  QuotaReservation.quota == "geschlecht")) \
        == "suspended"
    assert quotas.recount(dbsession, study) == []


def test_screen_out_after_the_checkpoint_releases(dbsession, study, people):
    add_cases(dbsession, study, [1])
    _, iv, _ = interview(dbsession, people[0], g=1, until="E")
    assert cell(dbsession, study, "geschlecht", "m") == (0, 1)
    interviews.break_off(dbsession, iv, people[0], note="aufgelegt", now=NOW)
    quotas.on_interview_end(dbsession, iv)  # an ending other than complete
    assert cell(dbsession, study, "geschlecht", "m") == (0, 0)
    assert set(dbsession.scalars(select(QuotaReservation.status).where(QuotaReservation.interview_id == iv.id))) \
        == {"released"}


def test_invalidated_interview_leaves_its_cells(dbsession, study, people):
    add_cases(dbsession, study, [1] * 3)
    _, iv, _ = interview(dbsession, people[0], g=1)
    interview(dbsession, people[1], g=1)
    assert cell(dbsession, study, "geschlecht", "m") == (2, 0)
    quotas.invalidate_interview(dbsession, iv, people[5].id, reason="back-check failed")
    assert iv.status == "invalidated"
    assert cell(dbsession, study, "geschlecht", "m") == (1, 0)
    assert cell(dbsession, study, "region", "nord") == (1, 0)
    assert interview(dbsession, people[2], g=1)[2].disposition == "COMPLETE"
    with pytest.raises(quotas.QuotaError):
        quotas.invalidate_interview(dbsession, iv)
    event = dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "interview.invalidate"))
    assert "geschlecht.m" in event.details["cells"]


def test_target_changes_are_audited_and_reopen_cells(dbsession, study, people):
    add_cases(dbsession, study, [1] * 4)
    for user in people[:2]:
        interview(dbsession, user, g=1)
    quotas.set_target(dbsession, study, "geschlecht", "m", 3, actor_id=people[5].id)
    assert study.settings["quota_targets"] == {"geschlecht": {"m": 3}}
    assert interview(dbsession, people[2], g=1)[2].disposition == "COMPLETE"
    assert interview(dbsession, people[3], g=1)[2].disposition == "QUOTA_FULL"
    event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "study.settings")
                              .order_by(AuditEvent.id)).all()[-1]  # the newest: PostgreSQL keeps no order unasked
    assert event.user_id == people[5].id
    assert event.details["quota_cells"] == [{"quota": "geschlecht", "cell": "m", "before": {
        "target": 2, "mode": "hard", "overshoot": 0.0}, "after": {"target": 3, "mode": "hard", "overshoot": 0.0}}]
    quotas.set_target(dbsession, study, "geschlecht", "m", None)
    assert status_of(dbsession, study, "geschlecht", "m").open
    with pytest.raises(StudyError, match="unknown cell"):
        quotas.set_target(dbsession, study, "geschlecht", "x", 3)


def test_mode_changes(dbsession, study, people):
    add_cases(dbsession, study, [1] * 4)
    quotas.set_mode(dbsession, study, "alter", "hard")
    assert status_of(dbsession, study, "alter", "jung").cap == 2
    quotas.set_mode(dbsession, study, "alter", "soft", overshoot=1.0)
    assert status_of(dbsession, study, "alter", "jung").cap == 4
    update_settings(dbsession, study, {"quota.geschlecht.mode": "counter"})
    for user in people[:3]:
        assert interview(dbsession, user, g=1)[2].disposition == "COMPLETE"
    assert status_of(dbsession, study, "geschlecht", "m").completes == 3
    with pytest.raises(StudyError, match="no on_full"):
        update_settings(dbsession, study, {"quota.zaehler.mode": "hard"})
    with pytest.raises(StudyError, match="must be one of"):
        update_settings(dbsession, study, {"quota.alter.mode": "loose"})
    with pytest.raises(StudyError, match="share"):
        update_settings(dbsession, study, {"quota.alter.overshoot": "viel"})
    update_settings(dbsession, study, {"quota.alter.overshoot": "25%"})
    assert study.settings["quota.alter.overshoot"] == 0.25


def test_delivery_holds_full_sample_cells_and_resumes_them(dbsession, study, people):
    add_cases(dbsession, study, [1, 1, 1, 2, 2, 2])
    case, _, ended = interview(dbsession, people[0], g=1)
    assert ended.disposition == "COMPLETE"
    region = case.fields["region"]
    name, other = ("nord", 2) if region == 1 else ("sued", 1)
    update_settings(dbsession, study, {f"quota.region.{name}": "1"})
    held = dbsession.scalars(select(Case).where(Case.study_id == study.id, Case.state == "blocked")).all()
    assert [c.fields["region"] for c in held] == [region, region]
    assert {(c.block_kind, c.block_reason) for c in held} == {("quota", f"quota cell full: region.{name}")}
    explanation = explain_case(dbsession, study, held[0], NOW)
    assert not explanation.callable and f"quota cell full: region.{name}" in explanation.reasons
    status = status_of(dbsession, study, "region", name)
    assert (status.cases_held, status.cases_ready, status.attempts, status.attempts_per_complete) == (2, 0, 1, 1.0)
    # only the other region is delivered now
    delivered = [next_case(dbsession, user, now=NOW) for user in people[1:5]]
    assert [d.case.fields["region"] for d in delivered if d] == [other] * 3
    assert delivered[3] is None
    # the target is raised: the held cases come back
    update_settings(dbsession, study, {f"quota.region.{name}": "5"})
    assert dbsession.scalar(select(Case.id).where(Case.study_id == study.id, Case.state == "blocked")) is None
    assert next_case(dbsession, people[5], now=NOW).case.fields["region"] == region
    assert dbsession.scalars(select(AuditEvent.details).where(AuditEvent.action == "quota.holds")).all() == [
        {"held": 2, "released": 0}, {"held": 0, "released": 2}]


def test_held_cases_come_back_when_an_interview_is_invalidated(dbsession, study, people):
    add_cases(dbsession, study, [1, 1])
    update_settings(dbsession, study, {"quota.region.nord": "1"})
    _, iv, _ = interview(dbsession, people[0])
    assert dbsession.scalar(select(Case.state).where(Case.study_id == study.id, Case.id != iv.case_id)) == "blocked"
    quotas.invalidate_interview(dbsession, iv)
    assert dbsession.scalar(select(Case.state).where(Case.study_id == study.id, Case.id != iv.case_id)) == "ready"


def test_pending_interviews_also_hold_sample_cells(dbsession, study, people):
    add_cases(dbsession, study, [1, 1])
    update_settings(dbsession, study, {"quota.region.nord": "1"})
    _, iv, _ = interview(dbsession, people[0], until="G")
    assert cell(dbsession, study, "region", "nord") == (0, 1)
    other = dbsession.scalar(select(Case).where(Case.study_id == study.id, Case.id != iv.case_id))
    assert other.state == "blocked"
    interviews.break_off(dbsession, iv, people[0], note="aufgelegt", now=NOW)  # the place is free again
    dbsession.refresh(other)
    assert other.state == "ready"


def test_quota_priority_delivers_under_filled_cells_first(dbsession, study, people):
    add_cases(dbsession, study, [1] * 6 + [2] * 6)
    update_settings(dbsession, study, {"quota.region.nord": "2", "quota.region.sued": "20", "quota_priority": "yes"})
    keys = dict(dbsession.execute(select(Case.id, Case.order_key).where(Case.study_id == study.id)).all())
    assert {band_of_key(k) for k in keys.values()} == {3}
    _, iv, _ = interview(dbsession, people[0], until="G")  # whichever region: a place is pending there
    region = dbsession.get(Case, iv.case_id).fields["region"]
    # nord (target 2) is now half reserved: band 2; sued (target 20) still band 3
    if region == 1:
        delivered = [next_case(dbsession, user, now=NOW).case.fields["region"] for user in people[1:4]]
        assert delivered == [2, 2, 2]
    bands = {band_of_key(c.order_key) for c in dbsession.scalars(
        select(Case).where(Case.study_id == study.id, Case.state == "ready")) if c.fields["region"] == 1}
    assert bands == ({2} if region == 1 else {3})
    update_settings(dbsession, study, {"quota_priority": "no"})
    assert {band_of_key(k) for (k,) in dbsession.execute(
        select(Case.order_key).where(Case.study_id == study.id, Case.state == "ready"))} == {0}


def test_quota_open_asks_the_gate(dbsession, people):
    source = QUESTIONNAIRE.replace(
        '  - {id: E, type: single, text: {de: "Fertig?"}, options: [{code: 1, de: ja}]}',
        '  - {id: E, type: single, text: {de: "Fertig?"}, options: [{code: 1, de: ja}]}\n'
        '  - {id: F, type: single, show_if: "quota_open(\'geschlecht.w\')", text: {de: "Noch?"}, '
        'options: [{code: 1, de: ja}]}')
    study = create_study(dbsession, source=source.replace("id: quota_test", "id: quota_open_test"),
                         source_name="q.yaml")
    update_settings(dbsession, study, {"status": "field", "quota.geschlecht.w": "0"})
    for user in people[:1]:
        assign_member(dbsession, study, user)
    add_cases(dbsession, study, [1])
    _, iv, ended = interview(dbsession, people[0], g=1)
    assert ended.disposition == "COMPLETE" and "F" not in iv.state["answers"]


def test_test_interviews_count_nowhere(dbsession, study):
    from cati.models import Interview
    from cati.questionnaires.engine import OfflineQuotaGate

    assert isinstance(quotas.gate_for(dbsession, study, Interview(is_test=True)), OfflineQuotaGate)


# --------------------------------------------------------------------------- the demo studies

DEMAND_ANSWERS = {"T1": 1, "S1": 30, "S2": 1, "S3": 2, "S4": 1, "S5": [5], "D4": "20095"}


def any_valid(screen):
    """Fixed screener answers (a man of 30: cell m_18_39), a simple valid answer elsewhere."""
    if screen.key in DEMAND_ANSWERS:
        return DEMAND_ANSWERS[screen.key]
    kind = screen.type
    if kind == "single":
        return screen.options[-1].code
    if kind == "multi":
        return [screen.options[0].code]
    if kind in ("numeric", "nps"):
        return screen.min if screen.min is not None else 1
    if kind == "grid":
        return {row.code: screen.options[0].code for row in screen.rows}
    if kind == "text":
        return "gut"
    return "2026-01-01"


def run_demand_interview(session, study, user):
    delivery = next_case(session, user, now=NOW, studies=[study])
    view = interviews.open_for_case(session, delivery.case, user, now=NOW)
    screen, iv = view.screen, view.interview
    for _ in range(200):
        if isinstance(screen, Ended):
            return screen
        if screen.type == "info":
            result = interviews.forward(session, iv, user, now=NOW)
        else:
            result = interviews.answer(session, iv, user, screen.key, any_valid(screen), now=NOW,
                                       confirm_soft=range(10))
        assert result.accepted, (screen.key, result.errors)
        screen = result.screen
    raise AssertionError("the interview did not end")


def test_demo_pre_sale_study_runs_with_its_age_gender_quota(dbsession):
    from cati.demo import load_demo
    from cati.services.studies import get_study

    load_demo(dbsession)
    study = get_study(dbsession, "lieferdienst_nachfrage")
    anna = dbsession.scalar(select(User).where(User.username == "anna"))
    quotas.set_target(dbsession, study, "alter_geschlecht", "m_18_39", 2)
    endings = [run_demand_interview(dbsession, study, anna).disposition for _ in range(3)]
    assert endings == ["COMPLETE", "COMPLETE", "QUOTA_FULL"]
    [quota] = quotas.cell_status(dbsession, study)
    by_cell = {c.cell: c for c in quota.cells}
    assert (by_cell["m_18_39"].completes, by_cell["m_18_39"].rejected, by_cell["m_18_39"].open) == (2, 1, False)
    assert by_cell["m_18_39"].attempts_per_complete == 1.5  # the turned-away case cost an attempt too
    assert by_cell["w_40_59"].target == 100 and by_cell["divers_ka"].target is None
    assert quotas.recount(dbsession, study) == []


def test_demo_after_sale_study_holds_cases_by_contact_reason(dbsession):
    from cati.demo import load_demo
    from cati.services.studies import get_study

    load_demo(dbsession)
    study = get_study(dbsession, "kundendienst_zufriedenheit")
    ready = {c.id: c for c in dbsession.scalars(select(Case).where(Case.study_id == study.id,
                                                                   Case.state == "ready"))}
    moves = {i for i, c in ready.items() if c.fields.get("kontaktgrund") == 1}
    assert moves and len(moves) < len(ready)
    [quota] = quotas.cell_status(dbsession, study)
    assert quota.sample_only
    assert {c.cell: c.cases_ready for c in quota.cells}["umzug"] == len(moves)
    update_settings(dbsession, study, {"quota.kontaktgrund.umzug": "0"})
    held = set(dbsession.scalars(select(Case.id).where(Case.study_id == study.id, Case.block_kind == "quota")))
    assert held == moves
    update_settings(dbsession, study, {"quota.kontaktgrund.umzug": "120"})
    assert set(dbsession.scalars(select(Case.id).where(Case.study_id == study.id, Case.state == "ready"))) \
        == set(ready)


REGIONAL = """\
format: cati/1
id: regional
version: 1
title: {de: "Regional"}
languages: [de]
dispositions: {COMPLETE: 1, FULL: {code: 31, aapor: "4.80"}}
sample:
  - {name: state, type: text}
  - {name: segment, type: single, pii: true, options: [{code: 1, de: A}, {code: 2, de: B}]}
quotas:
  - id: land
    on_full: FULL
    cells:
      - {id: be, if: "state == 'BE'", target: 10}
      - {id: by, if: "state == 'BY'", target: 10}
      - {id: rest, if: "true", target: null}
  - id: segment
    on_full: FULL
    cells:
      - {id: a, if: "segment == 1", target: 10}
      - {id: b, if: "segment == 2", target: 10}
flow:
  - quota: land
  - quota: segment
  - {id: A, type: single, text: {de: "A?"}, options: [{code: 1, de: ja}]}
"""


def test_holds_read_standard_columns_and_personal_fields(dbsession):
    study = create_study(dbsession, source=REGIONAL, source_name="regional.yaml")
    update_settings(dbsession, study, {"status": "field"})
    rows = "".join(f"R{i},+49 30 6{i:06d},{state},{segment}\n"
                   for i, (state, segment) in enumerate([("BE", 1), ("BE", 2), ("BY", 1), ("HH", 2), ("BY", 2)]))
    report = import_sample(dbsession, study, ("id,phone,state,segment\n" + rows).encode(), filename="r.csv")
    assert report.imported == 5, report.lines()

    def held():
        return sorted(c.ref for c in dbsession.scalars(select(Case).where(Case.study_id == study.id,
                                                                          Case.block_kind == "quota")))

    update_settings(dbsession, study, {"quota.land.be": "0"})
    assert held() == ["R0", "R1"]
    update_settings(dbsession, study, {"quota.segment.b": "0"})
    assert held() == ["R0", "R1", "R3", "R4"]
    reasons = {c.ref: c.block_reason for c in dbsession.scalars(select(Case).where(Case.study_id == study.id))}
    assert reasons["R1"] == "quota cell full: land.be, segment.b"
    update_settings(dbsession, study, {"quota.land.be": "10"})
    assert held() == ["R1", "R3", "R4"]
    assert reasons["R0"] != dbsession.scalar(select(Case.block_reason).where(Case.ref == "R0"))
    [land, segment] = quotas.cell_status(dbsession, study)
    assert {c.cell: (c.cases_ready, c.cases_held) for c in land.cells} == {
        "be": (1, 1), "by": (1, 1), "rest": (0, 1)}
    assert {c.cell: (c.cases_ready, c.cases_held) for c in segment.cells} == {"a": (2, 0), "b": (0, 3)}


def test_an_interview_left_active_gives_its_place_back_when_needed(dbsession, study, people):
    from cati.services.scheduler import record_outcome

    add_cases(dbsession, study, [1] * 4)
    update_settings(dbsession, study, {"quota.geschlecht.m": "1"})
    case, iv, _ = interview(dbsession, people[0], g=1, until="A")
    # an appointment is booked mid-interview without breaking it off: the case is no longer claimed
    record_outcome(dbsession, case, people[0], "appointment_soft", appointment_at=NOW + dt.timedelta(days=1),
                   now=NOW)
    assert iv.status == "active" and cell(dbsession, study, "geschlecht", "m") == (0, 1)
    # the next respondent of the cell gets the place instead of being turned away
    assert interview(dbsession, people[1], g=1)[2].disposition == "COMPLETE"
    assert cell(dbsession, study, "geschlecht", "m") == (1, 0)
    assert quotas.recount(dbsession, study) == []


def test_cases_imported_into_a_full_sample_cell_are_held_at_once(dbsession, study, people):
    add_cases(dbsession, study, [1])
    case, _, ended = interview(dbsession, people[0])
    assert (case.fields["region"], ended.disposition) == (1, "COMPLETE")
    update_settings(dbsession, study, {"quota.region.nord": "1"})  # full now
    add_cases(dbsession, study, [1, 2, 1])
    fresh = dbsession.scalars(select(Case).where(Case.study_id == study.id, Case.id != case.id)
                              .order_by(Case.id)).all()
    assert [(c.fields["region"], c.state, c.block_kind) for c in fresh] == [
        (1, "blocked", "quota"), (2, "ready", ""), (1, "blocked", "quota")]
    assert next_case(dbsession, people[1], now=NOW).case.fields["region"] == 2
    assert next_case(dbsession, people[2], now=NOW) is None
