"""OOB deploy requests over real HTTP on SQLite and PostgreSQL: form, table, checklist,
timeline, notifications, postmortem section and the two-business-day reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import select

from tests.support.server import Running
from tests.support.wired import run_due
from warroom.core.clock import FakeClock
from warroom.deploys import states
from warroom.notifications.models import Notification
from warroom.scheduler.models import DueJob

FORM = {
    "prs": ["https://github.com/example/identity/pull/42"],
    "platform_severity": "critical",
    "active_daily_users": 120000,
    "fix_confirmed_in_staging": True,
    "description": "Revert the SAML signing change",
    "reason": "All logins through login.gov fail",
    "validation_steps": "Sign in with login.gov in staging",
    "validated_by": "bob",
    "confirm_after_cutoff": True,
    "confirm_cannot_wait": True,
    "confirm_postmortem": True,
}
BASE_CHECKLIST = ("paging_incident", "leadership_ack", "channels_notified")
# The lifecycle, written out by hand (not read from the code's table).
LEGAL = {
    ("draft", "requested"),
    ("draft", "cancelled"),
    ("requested", "approved"),
    ("requested", "rejected"),
    ("requested", "cancelled"),
    ("approved", "deployed"),
    ("approved", "cancelled"),
    ("deployed", "verified"),
}


def _incident(server: Running) -> str:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-1"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _create(server: Running, inc: str, **form: object) -> dict:
    with server.admin() as c:
        r = c.post(f"/api/v1/incidents/{inc}/oob-requests", json=form)
        assert r.status_code == 201, r.text
        return dict(r.json())


_APPROVERS: dict[int, str] = {}


def _approver(server: Running) -> str:
    """A second person's token: the reference policy lets nobody approve their own request."""
    key = id(server)
    if key not in _APPROVERS:
        with server.admin() as c:
            assert c.post("/api/v1/users", json={"handle": "platform", "role": "responder"}).status_code == 201
            _APPROVERS[key] = c.post("/api/v1/tokens", json={"user": "platform"}).json()["token"]
    return _APPROVERS[key]


def _move(server: Running, inc: str, oob: str, to: str, reason: str | None = "because"):  # type: ignore[no-untyped-def]
    with server.client(_approver(server)) if to == "approved" else server.admin() as c:
        return c.post(f"/api/v1/incidents/{inc}/oob-requests/{oob}/transitions", json={"to": to, "reason": reason})


def _tick(server: Running, inc: str, oob: str, item: str, done: bool = True):  # type: ignore[no-untyped-def]
    with server.admin() as c:
        return c.post(f"/api/v1/incidents/{inc}/oob-requests/{oob}/checklist", json={"item": item, "done": done})


def _to_state(server: Running, inc: str, target: str) -> str:
    """A request walked along the happy path to `target` (or to its branch point)."""
    oob = _create(server, inc, **FORM)["id"]
    path = {
        "draft": [],
        "requested": ["requested"],
        "approved": ["requested", "approved"],
        "deployed": ["requested", "approved", "deployed"],
        "verified": ["requested", "approved", "deployed", "verified"],
        "rejected": ["requested", "rejected"],
        "cancelled": ["cancelled"],
    }[target]
    for step in path:
        if step == "deployed":
            for item in BASE_CHECKLIST:
                assert _tick(server, inc, oob, item).status_code == 200
        r = _move(server, inc, oob, step)
        assert r.status_code == 200, r.text
    return oob


def test_request_refused_until_form_complete_naming_what_is_missing(server: Running) -> None:
    inc = _incident(server)
    oob = _create(server, inc, prs=["https://github.com/example/identity/pull/1"], fix_confirmed_in_staging=False)
    assert oob["state"] == "draft" and oob["id"] == "OOB-1"
    r = _move(server, inc, oob["id"], "requested")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid"
    assert err["details"]["missing"] == [
        "platform_severity",
        "active_daily_users",
        "not_confirmed_reason",
        "description",
        "reason",
        "validation_steps",
        "validated_by",
        "confirm_after_cutoff",
        "confirm_cannot_wait",
        "confirm_postmortem",
    ]
    assert "platform_severity" in err["message"]
    # fill it in step by step; each PATCH narrows the list
    with server.admin() as c:
        body = {k: v for k, v in FORM.items() if k not in ("prs", "fix_confirmed_in_staging")}
        body["confirm_postmortem"] = False
        r = c.patch(f"/api/v1/incidents/{inc}/oob-requests/{oob['id']}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["form_missing"] == ["not_confirmed_reason", "confirm_postmortem"]
        r = c.patch(
            f"/api/v1/incidents/{inc}/oob-requests/{oob['id']}",
            json={"not_confirmed_reason": "staging is down too", "confirm_postmortem": True},
        )
        assert r.json()["form_missing"] == []
    r = _move(server, inc, oob["id"], "requested")
    assert r.status_code == 200, r.text
    assert r.json()["requested_by"] == "admin"
    assert r.json()["requested_at"] == "2026-10-05T09:00:00Z"
    # once requested, the form is frozen
    with server.admin() as c:
        r = c.patch(f"/api/v1/incidents/{inc}/oob-requests/{oob['id']}", json={"reason": "x"})
        assert r.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"platform_severity": "urgent"},
        {"prs": ["not a url"]},
        {"active_daily_users": -1},
        {"unknown_field": 1},
    ],
)
def test_form_field_validation(server: Running, body: dict) -> None:
    inc = _incident(server)
    with server.admin() as c:
        r = c.post(f"/api/v1/incidents/{inc}/oob-requests", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"].split(".")[0] == next(iter(body))


def test_every_transition_legal_and_illegal(server: Running) -> None:
    inc = _incident(server)
    base = f"/api/v1/incidents/{inc}/oob-requests"
    paths = {
        "draft": [],
        "requested": ["requested"],
        "approved": ["requested", "approved"],
        "deployed": ["requested", "approved", "deployed"],
        "verified": ["requested", "approved", "deployed", "verified"],
        "rejected": ["requested", "rejected"],
        "cancelled": ["cancelled"],
    }
    checked = 0
    # one keep-alive connection each: 49 requests walked to each state, approved by someone else
    with server.admin() as c, server.client(_approver(server)) as platform:
        for source, target in product(states.STATES, states.STATES):
            oob = c.post(base, json=FORM).json()["id"]
            for step in paths[source]:
                if step == "deployed":
                    for item in BASE_CHECKLIST:
                        c.post(f"{base}/{oob}/checklist", json={"item": item})
                r = (platform if step == "approved" else c).post(
                    f"{base}/{oob}/transitions", json={"to": step, "reason": "r"}
                )
                assert r.status_code == 200, r.text
            if target == "deployed" and source == "approved":
                for item in BASE_CHECKLIST:  # so only the table can refuse the move
                    c.post(f"{base}/{oob}/checklist", json={"item": item})
            r = (platform if target == "approved" else c).post(
                f"{base}/{oob}/transitions", json={"to": target, "reason": "because"}
            )
            if (source, target) in LEGAL:
                assert r.status_code == 200, (source, target, r.text)
                assert r.json()["state"] == target
                assert r.json()["allowed_transitions"] == states.allowed(target)
            else:
                assert r.status_code == 409, (source, target, r.text)
                err = r.json()["error"]
                assert err["code"] == "illegal_transition"
                assert err["details"]["allowed"] == states.allowed(source)
                assert c.get(f"{base}/{oob}").json()["state"] == source  # nothing changed
            checked += 1
        assert checked == 49
        r = c.post(f"{base}/OOB-1/transitions", json={"to": "shipped"})
        assert r.status_code == 422  # not a state at all


def test_reject_needs_reason_and_unknown_ids_404(server: Running) -> None:
    inc = _incident(server)
    other = _incident(server)
    oob = _to_state(server, inc, "requested")
    assert _move(server, inc, oob, "rejected", reason=None).status_code == 422
    r = _move(server, inc, oob, "rejected", reason="cosmetic change")
    assert r.json()["closed_reason"] == "cosmetic change"
    assert _move(server, other, oob, "cancelled").status_code == 404  # not this incident's
    with server.admin() as c:
        assert c.get(f"/api/v1/incidents/{inc}/oob-requests/OOB-99").status_code == 404
        assert c.get(f"/api/v1/incidents/{inc}/oob-requests/oops").status_code == 404


def test_checklist_records_who_and_when_and_gates_deploy(server: Running, clock: FakeClock, make_user) -> None:  # type: ignore[no-untyped-def]
    inc = _incident(server)
    carol = make_user("carol")
    oob = _create(server, inc, **FORM, proxies_changed=True)["id"]
    assert _tick(server, inc, oob, "paging_incident").status_code == 409  # drafts have no checklist
    _move(server, inc, oob, "requested")
    clock.advance(timedelta(minutes=3))
    with server.client(carol) as c:
        r = c.post(
            f"/api/v1/incidents/{inc}/oob-requests/{oob}/checklist",
            json={"item": "leadership_ack", "note": "VP on the bridge"},
        )
        assert r.status_code == 200, r.text
    entry = next(e for e in r.json()["checklist"] if e["item"] == "leadership_ack")
    assert entry == {
        "item": "leadership_ack",
        "label": "Engineering leadership acknowledged",
        "required": True,
        "done": True,
        "by": "carol",
        "at": "2026-10-05T09:03:00Z",
        "note": "VP on the bridge",
    }
    assert r.json()["checklist_missing"] == ["paging_incident", "channels_notified", "infrastructure_ack"]
    security = next(e for e in r.json()["checklist"] if e["item"] == "security_review")
    assert security["required"] is False
    _move(server, inc, oob, "approved")
    for item in ("paging_incident", "channels_notified"):
        _tick(server, inc, oob, item)
    r = _move(server, inc, oob, "deployed")
    assert r.status_code == 409 and r.json()["error"]["details"]["missing"] == ["infrastructure_ack"]
    _tick(server, inc, oob, "infrastructure_ack")
    assert _tick(server, inc, oob, "channels_notified", done=False).json()["checklist_missing"] == ["channels_notified"]
    _tick(server, inc, oob, "channels_notified")
    with server.admin() as c:
        r = c.post(f"/api/v1/incidents/{inc}/oob-requests/{oob}/checklist", json={"item": "coffee"})
        assert r.status_code == 422
    assert _move(server, inc, oob, "deployed").status_code == 200


def test_each_step_on_timeline_notified_and_in_postmortem(server: Running, clock: FakeClock) -> None:
    inc = _incident(server)
    oob = _create(server, inc, **FORM)["id"]
    for step in ("requested", "approved"):
        clock.advance(timedelta(minutes=5))
        assert _move(server, inc, oob, step).status_code == 200
    for item in BASE_CHECKLIST:
        _tick(server, inc, oob, item)
    for step in ("deployed", "verified"):
        clock.advance(timedelta(minutes=5))
        assert _move(server, inc, oob, step).status_code == 200
    with server.admin() as c:
        timeline = c.get(f"/api/v1/incidents/{inc}/timeline").json()["items"]
        oob_entries = [e for e in timeline if e["kind"] == "oob"]
        texts = [e["text"] for e in oob_entries]
        assert any("drafted" in t for t in texts)
        for step in ("requested", "approved", "deployed", "verified"):
            assert any(f"OOB-1 out-of-band deploy {step}" in t for t in texts), step
        assert sum("checklist" in t for t in texts) == 3
        r = c.post(f"/api/v1/incidents/{inc}/transitions", json={"to": "resolved"})
        assert r.status_code == 200, r.text
        pm = c.get(f"/api/v1/incidents/{inc}/postmortem").json()["markdown"]
    assert "## Out-of-band deploys" in pm
    assert "**OOB-1** (verified, platform severity critical): Revert the SAML signing change" in pm
    assert "https://github.com/example/identity/pull/42" in pm
    assert "deployed 2026-10-05 09:15 UTC by admin" in pm
    with server.state.sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.event == "oob").order_by(Notification.id)).all()
    assert [(n.channel, n.payload["state"], n.payload["previous"]) for n in rows] == [
        ("support", "requested", "draft"),
        ("support", "approved", "requested"),
        ("support", "deployed", "approved"),
        ("support", "verified", "deployed"),
    ]
    assert all(n.incident_id == 1 and n.payload["oob"] == "OOB-1" for n in rows)
    assert "postmortem due Wed 2026-10-07 09:15 UTC" in rows[2].text


def _oob_notifications(server: Running) -> list[Notification]:
    with server.state.sessions() as s:
        return list(
            s.scalars(
                select(Notification).where(
                    Notification.event == "oob", Notification.text.contains("postmortem is not done")
                )
            )
        )


def _run_jobs(server: Running, clock: FakeClock) -> int:
    return run_due(server.state.sessions, server.state.policy, clock)


@pytest.mark.parametrize(
    ("deployed", "due"),
    [
        (datetime(2026, 10, 8, 15, 0, tzinfo=UTC), datetime(2026, 10, 12, 15, 0, tzinfo=UTC)),  # Thu -> Mon
        (datetime(2026, 10, 9, 15, 0, tzinfo=UTC), datetime(2026, 10, 13, 15, 0, tzinfo=UTC)),  # Fri -> Tue
        (datetime(2026, 10, 10, 11, 0, tzinfo=UTC), datetime(2026, 10, 13, 11, 0, tzinfo=UTC)),  # Sat -> Tue
        (datetime(2026, 10, 5, 9, 0, tzinfo=UTC), datetime(2026, 10, 7, 9, 0, tzinfo=UTC)),  # Mon -> Wed
    ],
)
def test_postmortem_reminder_two_business_days_skipping_weekends(
    server: Running, clock: FakeClock, deployed: datetime, due: datetime
) -> None:
    inc = _incident(server)
    oob = _to_state(server, inc, "approved")
    for item in BASE_CHECKLIST:
        _tick(server, inc, oob, item)
    clock.set(deployed)
    r = _move(server, inc, oob, "deployed")
    assert r.json()["postmortem_due_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.set(due - timedelta(seconds=1))
    _run_jobs(server, clock)
    assert _oob_notifications(server) == []
    clock.set(due)
    assert _run_jobs(server, clock) >= 1  # cadence jobs of the open incident may run too
    sent = _oob_notifications(server)
    assert len(sent) == 1 and sent[0].channel == "support"
    assert "OOB-1 (INC-1) was deployed out of band" in sent[0].text
    clock.advance(timedelta(days=3))
    _run_jobs(server, clock)
    assert len(_oob_notifications(server)) == 1  # once, not every poll
    with server.admin() as c:
        timeline = c.get(f"/api/v1/incidents/{inc}/timeline").json()["items"]
    assert any("postmortem is not done after 2 business days" in e["text"] for e in timeline)


def test_reminder_not_sent_when_postmortem_done(server: Running, clock: FakeClock) -> None:
    inc = _incident(server)
    oob = _to_state(server, inc, "deployed")
    with server.admin() as c:
        r = c.post(
            f"/api/v1/incidents/{inc}/oob-requests/{oob}/postmortem", json={"url": "https://docs.example/pm/oob-1"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["postmortem_done_at"] == "2026-10-05T09:00:00Z"
    with server.state.sessions() as s:
        assert s.scalars(select(DueJob).where(DueJob.kind == "oob_postmortem_due")).all() == []
    clock.advance(timedelta(days=7))
    _run_jobs(server, clock)
    assert _oob_notifications(server) == []


def test_postmortem_reminder_respects_policy_days(server: Running, clock: FakeClock) -> None:
    server.state.policy = server.state.policy.model_copy(
        update={"oob": server.state.policy.oob.model_copy(update={"postmortem_due_business_days": 5})}
    )
    inc = _incident(server)
    oob = _to_state(server, inc, "deployed")  # Mon 2026-10-05 09:00 + 5 business days
    with server.admin() as c:
        got = c.get(f"/api/v1/incidents/{inc}/oob-requests/{oob}").json()
    assert got["postmortem_due_at"] == "2026-10-12T09:00:00Z"


def test_viewer_reads_but_cannot_write_and_completed_incident_refuses(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    inc = _incident(server)
    oob = _create(server, inc, **FORM)["id"]
    viewer = make_user("vic", "viewer")
    with server.client(viewer) as c:
        assert c.get(f"/api/v1/incidents/{inc}/oob-requests").json()[0]["id"] == oob
        r = c.post(f"/api/v1/incidents/{inc}/oob-requests/{oob}/transitions", json={"to": "requested"})
        assert r.status_code == 403
    with server.client() as c:
        assert c.get(f"/api/v1/incidents/{inc}/oob-requests").status_code == 401


def test_business_days_pure() -> None:
    friday = datetime(2026, 10, 9, 23, 30, tzinfo=UTC)
    assert states.add_business_days(friday, 2) == datetime(2026, 10, 13, 23, 30, tzinfo=UTC)
    assert states.add_business_days(friday, 0) == friday
    # in the team's time zone: Friday 23:30 UTC is already Saturday in Tokyo
    tokyo = states.add_business_days(friday, 1, tz="Asia/Tokyo")
    assert tokyo == datetime(2026, 10, 11, 23, 30, tzinfo=UTC)  # Mon 08:30 JST
    holiday = states.add_business_days(friday, 1, holidays=frozenset({datetime(2026, 10, 12).date()}))
    assert holiday == datetime(2026, 10, 13, 23, 30, tzinfo=UTC)


def test_cli_walks_a_request(server: Running, db_url: str) -> None:
    import json

    from tests.support import cli

    inc = _incident(server)

    def run(*args: str, ok: bool = True) -> cli.Ran:
        proc = cli.warroom("oob", *args, env={"WARROOM_DATABASE_URL": db_url})
        assert (proc.returncode == 0) is ok, proc.stderr
        return proc

    bad = run("create", inc, "--pr", "https://github.com/example/identity/pull/9", "--request", ok=False)
    assert "the OOB form is incomplete: platform_severity" in bad.stderr
    out = json.loads(
        run(
            "create",
            inc,
            "--pr",
            "https://github.com/example/identity/pull/9",
            "--severity",
            "high",
            "--users",
            "300",
            "--no-staging",
            "--not-confirmed-reason",
            "staging down",
            "--description",
            "hotfix",
            "--reason",
            "users locked out",
            "--validation-steps",
            "log in",
            "--validated-by",
            "bob",
            "--confirm-after-cutoff",
            "--confirm-cannot-wait",
            "--confirm-postmortem",
            "--security",
            "--request",
            "--json",
        ).stdout
    )
    assert out["state"] == "requested"
    ref = out["id"]
    listed = json.loads(run("list", inc, "--json").stdout)
    assert [o["id"] for o in listed] == [ref]  # the refused --request left no draft behind
    with server.admin() as c:
        for handle in ("lead", "sec"):
            assert c.post("/api/v1/users", json={"handle": handle, "role": "responder"}).status_code == 201
        assert c.patch(f"/api/v1/incidents/{inc}", json={"roles": {"security_analyst": "sec"}}).status_code == 200
    assert "cannot also approve" in run("move", ref, "approved", ok=False).stderr  # cli requested it
    run("move", ref, "approved", "--as", "lead")
    for item in BASE_CHECKLIST:
        run("check", ref, item)
    assert "security_analyst" in run("check", ref, "security_review", "--as", "lead", ok=False).stderr
    run("check", ref, "security_review", "--as", "sec")
    assert "deployed" in run("move", ref, "deployed").stdout
    shown = run("show", ref).stdout
    assert "[x] Security review (security-related changes) (sec, " in shown
    assert "(not required)" in shown  # infrastructure ack: no proxies changed
    assert ref in run("list", inc).stdout
    assert "illegal" not in run("move", ref, "verified").stdout
    assert "cannot move OOB request from verified to approved" in run("move", ref, "approved", ok=False).stderr


def test_separation_of_duties_requester_never_approves_and_roles_gate_items(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 18 item 15: the requester approved their own request and ticked the security review in
    the same second. Reference policy: the approver differs, security_review needs a security analyst."""
    alice, bob, sec = make_user("alice"), make_user("bob"), make_user("sec")
    inc = _incident(server)
    with server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{inc}", json={"roles": {"security_analyst": "sec"}}).status_code == 200
    with server.client(alice) as c:
        r = c.post(f"/api/v1/incidents/{inc}/oob-requests", json={**FORM, "security_related": True})
        oob = r.json()["id"]
        base = f"/api/v1/incidents/{inc}/oob-requests/{oob}"
        assert c.post(f"{base}/transitions", json={"to": "requested"}).status_code == 200
        r = c.post(f"{base}/transitions", json={"to": "approved"})
        assert r.status_code == 403 and "cannot also approve" in r.json()["error"]["message"], r.text
    with server.client(bob) as c:
        r = c.post(f"{base}/transitions", json={"to": "approved"})
        assert r.status_code == 200 and r.json()["approved_by"] == "bob"
        for item in BASE_CHECKLIST:
            assert c.post(f"{base}/checklist", json={"item": item}).status_code == 200
        r = c.post(f"{base}/checklist", json={"item": "security_review"})
        assert r.status_code == 403 and "security_analyst" in r.json()["error"]["message"]
    with server.admin() as c:  # an admin is no security analyst either
        assert c.post(f"{base}/checklist", json={"item": "security_review"}).status_code == 403
        # the requester holding the role still cannot review their own change
        assert c.patch(f"/api/v1/incidents/{inc}", json={"roles": {"security_analyst": "alice"}}).status_code == 200
    with server.client(alice) as c:
        r = c.post(f"{base}/checklist", json={"item": "security_review"})
        assert r.status_code == 403 and "separation of duties" in r.json()["error"]["message"]
    with server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{inc}", json={"roles": {"security_analyst": "sec"}}).status_code == 200
    with server.client(sec) as c:
        r = c.post(f"{base}/checklist", json={"item": "security_review"})
        assert r.status_code == 200 and r.json()["checklist_missing"] == []
        assert c.post(f"{base}/transitions", json={"to": "deployed"}).status_code == 200


def test_separation_of_duties_can_be_turned_off_by_policy(db_url: str, engine, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_server
    from tests.support.notify import make_policy
    from warroom.policy import PolicyError
    from warroom.policy.loader import parse_policy

    policy = make_policy(
        oob={"approver_differs_from_requester": False, "checklist_roles": {"leadership_ack": ["admin"]}}
    )
    running = start_server(engine, db_url, policy, clock)
    try:
        inc = _incident(running)
        with running.admin() as c:
            oob = c.post(f"/api/v1/incidents/{inc}/oob-requests", json=FORM).json()["id"]
            base = f"/api/v1/incidents/{inc}/oob-requests/{oob}"
            assert c.post(f"{base}/transitions", json={"to": "requested"}).status_code == 200
            assert c.post(f"{base}/transitions", json={"to": "approved"}).status_code == 200
            assert c.post(f"{base}/checklist", json={"item": "leadership_ack"}).status_code == 200  # admin: allowed
    finally:
        running.server.stop()
    for bad, message in (
        ({"security_reveiw": ["admin"]}, "unknown checklist item"),
        ({"security_review": ["sre"]}, "unknown role"),
    ):
        text = "team: t\nenvironments: {prod: 1}\ndefault_tier: 1\npriority: {thresholds: [0], tiers: {1: [P1]}}\n"
        text += "severities: [{key: SEV-1, name: x}]\ntriage: {default_severity: SEV-1}\n"
        text += f"oob: {{checklist_roles: {bad}}}\n"
        with pytest.raises(PolicyError, match=message):
            parse_policy(text)
