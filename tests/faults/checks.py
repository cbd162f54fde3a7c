"""What must hold after every fault run, read from the database, the Slack server and the logs."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select

from tests.faults.scenario import CADENCE_S, REMIND_BEFORE_S, Run
from warroom.alerts.models import Alert, AlertEvent
from warroom.datadog.models import DatadogMirror
from warroom.incidents.models import Incident, IncidentService, StatusUpdate
from warroom.notifications.models import Notification

SLACK_S = timedelta(seconds=4)  # how late a worker may run a due job under load on 2 shared cores


def load_answered(run: Run) -> None:
    """Every request got a final answer; nothing unexpected; every 429/503 said when to retry."""
    out = run.out
    assert not out.unanswered, f"{len(out.unanswered)} requests never answered 2xx"
    assert not out.bad, f"unexpected answers: {out.bad[:5]}"
    assert out.statuses[500] == 0, dict(out.statuses)
    assert out.retry_after_missing == 0, "a 429/503 came without Retry-After"


def events_stored_once(run: Run) -> None:
    """Each distinct event answered 202 is stored exactly once; duplicates and retries add nothing."""
    with run.sessions() as s:
        rows = s.execute(
            select(Alert.source, Alert.dedup_key, AlertEvent.status, func.count())
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .group_by(Alert.source, Alert.dedup_key, AlertEvent.status)
        ).all()
    stored = {(src, key, status): n for src, key, status, n in rows}
    sent = {k: len(v) for k, v in run.out.kept.items()}
    missing = {k: (n, stored.get(k, 0)) for k, n in sent.items() if stored.get(k, 0) != n}
    extra = set(stored) - set(sent)
    assert not missing and not extra, f"sent/stored differ: {list(missing.items())[:5]} extra={list(extra)[:5]}"
    run.notes["events_stored"] = sum(stored.values())


def incidents_once(run: Run) -> None:
    """One incident per alert group (service) that fired a P1; every P1 alert is in it."""
    with run.sessions() as s:
        per_service = Counter(s.scalars(select(IncidentService.service)))
        by_service = dict(s.execute(select(IncidentService.service, IncidentService.incident_id)).all())
        p1 = s.execute(select(Alert.service, Alert.incident_id).where(Alert.priority == "P1")).all()
        total = s.scalar(select(func.count()).select_from(Incident))
    assert set(per_service) == run.out.p1_services, (per_service, run.out.p1_services)
    assert max(per_service.values()) == 1, f"declared twice: {per_service}"
    assert total == len(per_service)
    stray = [(svc, inc) for svc, inc in p1 if inc != by_service.get(svc)]
    assert not stray, f"P1 alerts outside their service's incident: {stray[:5]}"
    run.notes["incidents"] = total


def notifications_once(run: Run) -> None:
    """Every outbox row was sent (or dropped as obsolete: a reminder whose update was posted meanwhile),
    and the Slack server got each sent one exactly once (a row in flight in a worker killed with SIGKILL
    may arrive twice: its outcome died with the process) and no obsolete one."""
    with run.sessions() as s:
        rows = s.execute(
            select(Notification.idempotency_key, Notification.state, Notification.event, Notification.last_error).where(
                Notification.created_at < run.ended
            )
        ).all()  # later: workers were stopping
    states = Counter(r.state for r in rows)
    assert set(states) <= {"sent", "obsolete"}, f"outbox not drained: {states}"
    dropped = [r for r in rows if r.state == "obsolete"]
    # card edits are dropped for a newer one (the newest shows everything)
    assert all(r.event in ("reminder", "escalation", "update", "card") for r in dropped), dropped
    assert all((r.last_error or "").startswith("obsolete at ") for r in dropped), dropped
    posted = Counter(p["metadata"]["event_payload"]["idempotency_key"] for p in run.slack.posts())
    # a card edit is a chat.update of the incident's first message, not a post of its own
    keys = {r.idempotency_key for r in rows if r.state == "sent" and r.event != "card"}
    assert keys <= set(posted), f"missing at Slack: {_explain(run, keys - set(posted))}"
    reached = ({r.idempotency_key for r in dropped} & set(posted)) - set(run.ambiguous)  # in flight at a SIGKILL
    assert not reached, f"an obsolete message reached Slack: {_explain(run, reached)}"
    with run.sessions() as s:
        unknown = set(posted) - set(s.scalars(select(Notification.idempotency_key)))
    assert not unknown, f"delivered but not in the outbox: {list(unknown)[:5]}"
    twice = {k: n for k, n in posted.items() if n > 1}
    assert all(k in run.ambiguous and n == 2 for k, n in twice.items()), f"delivered twice: {twice}"
    run.notes.update(notifications=len(rows), slack_calls=len(run.slack.calls), duplicates_after_sigkill=len(twice))


def _explain(run: Run, keys: set[str]) -> list[str]:
    """For a failure message: each missing row as stored, and every Slack call that carried it."""
    out = []
    with run.sessions() as s:
        for row in s.scalars(select(Notification).where(Notification.idempotency_key.in_(sorted(keys)[:5]))):
            calls = [
                (f"{c.at:.3f}", c.path.rsplit("/", 1)[-1], c.response_status, c.fault, c.response)
                for c in run.slack.calls
                if row.idempotency_key.encode() in c.body
            ]
            out.append(
                f"{row.idempotency_key} {row.event} {row.channel} attempts={row.attempts} "
                f"claimed_by={row.claimed_by} sent_at={row.sent_at} external_id={row.external_id} "
                f"last_error={row.last_error} calls={calls}"
            )
    return out


def updates_kept(run: Run) -> None:
    """Every status update answered 201 is stored exactly once; none that was not sent."""
    with run.sessions() as s:
        stored = Counter(s.scalars(select(StatusUpdate.message).where(StatusUpdate.automatic.is_(False))))
    assert not [m for m in run.out.updates_ok if stored[m] != 1], "a 201 update missing or doubled"
    assert all(m in run.out.updates_attempts and n == 1 for m, n in stored.items()), stored.most_common(3)
    run.notes["updates_ok"] = len(run.out.updates_ok)


def _tolerance(run: Run, at: datetime) -> datetime:
    """The latest acceptable time for something due `at`: SLACK_S, or the end of a fault window."""
    latest = at + SLACK_S
    for start, end in run.fault_windows:
        if start - SLACK_S <= at <= end:
            latest = max(latest, end + SLACK_S)
    return latest


def cadence_kept(run: Run) -> None:
    """Per incident: no cadence period passes without an update (human or automatic), no due time
    is handled twice, a reminder goes out once for each period whose reminder time was reached."""
    cadence, before = timedelta(seconds=CADENCE_S), timedelta(seconds=REMIND_BEFORE_S)
    autos = reminders = 0
    with run.sessions() as s:
        incidents = list(s.scalars(select(Incident)))
        for inc in incidents:
            ups = list(
                s.scalars(
                    select(StatusUpdate).where(StatusUpdate.incident_id == inc.id).order_by(StatusUpdate.created_at)
                )
            )
            notes = list(
                s.scalars(
                    select(Notification).where(Notification.incident_id == inc.id, Notification.event == "reminder")
                )
            )
            auto = [u for u in ups if u.automatic]
            assert len({u.due_at for u in auto}) == len(auto), f"{inc.ref}: a due time updated twice"
            before_due = Counter(
                datetime.fromisoformat(n.payload["due"]) for n in notes if n.payload.get("kind") == "before_due"
            )
            assert not [d for d, n in before_due.items() if n > 1], f"{inc.ref}: reminder doubled"
            missed = sum(n.payload.get("kind") == "missed" for n in notes)
            assert missed == len(auto), f"{inc.ref}: {missed} missed-update pings for {len(auto)} auto updates"
            starts = [inc.declared_at, *(u.created_at for u in ups)]
            for i, start in enumerate(starts):
                due = start + cadence
                nxt = starts[i + 1] if i + 1 < len(starts) else None
                horizon = nxt or run.ended
                assert horizon <= _tolerance(run, due), (
                    f"{inc.ref}: update due {due:%T.%f} missed (next {nxt}, run ended {run.ended:%T})"
                )
                remind_at = due - before
                if horizon > _tolerance(run, remind_at):
                    assert due in before_due, f"{inc.ref}: no reminder for the update due {due:%T.%f}"
                elif nxt is not None and nxt < remind_at - timedelta(seconds=1):
                    assert due not in before_due, f"{inc.ref}: reminder for a due time already met: " + _story(
                        inc, ups, notes
                    )
            autos += len(auto)
            reminders += sum(before_due.values())
    assert autos > 0 and reminders > 0, "the run was too short to exercise the cadence"
    run.notes.update(auto_updates=autos, reminders=reminders)


def logs_clean(run: Run, *, allow_db_warnings: bool = False) -> None:
    """Every process lived to a clean SIGTERM stop; no traceback anywhere; database warnings only
    when the database was down."""
    for p in run.procs():
        # uvicorn re-raises the SIGTERM it handled after its graceful shutdown: -15 is a clean stop
        assert p.popen is not None and p.popen.returncode in (0, -15), f"{p.log_path.name}: {p.popen}"
    for name, text in run.logs().items():
        if name == "postgres.log":
            continue
        assert "Traceback" not in text, f"{name} has a traceback:\n{_around(text, 'Traceback')}"
        outage_lines = text.count("database unavailable") + text.count("worker pass failed")
        if not allow_db_warnings:
            assert outage_lines == 0, f"{name}: {_around(text, 'database unavailable')}"
        run.notes[f"outage_lines_{name}"] = outage_lines


def no_secrets(run: Run) -> None:
    """No token, password or Slack token used in the run appears in any process's log."""
    for name, text in run.logs().items():
        for secret in run.secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) is in {name}: {_around(text, secret)}"
        assert not re.search(r"wr[ui]_[A-Za-z0-9_-]{8,}", text), f"a token-shaped string in {name}"


def _story(inc: Incident, ups: list[StatusUpdate], notes: list[Notification]) -> str:
    lines = [f"declared {inc.declared_at:%T.%f}"]
    lines += [f"update {u.created_at:%T.%f} auto={u.automatic} due_at={u.due_at:%T.%f}" for u in ups]
    lines += [
        f"reminder created {n.created_at:%T.%f} {n.payload.get('kind')} due={n.payload.get('due')}" for n in notes
    ]
    return "\n".join(sorted(lines, key=lambda x: x.split()[1]))


def _around(text: str, needle: str, width: int = 1500) -> str:
    i = text.find(needle)
    return text[max(0, i - 200) : i + width] if i >= 0 else ""


def datadog_mirrored_once(run: Run) -> None:
    """After a Datadog outage: every mirrored incident stands in Datadog exactly once (no create
    duplicated by a retry after a 5xx or a timeout), holding our latest title, severity and state."""
    assert run.dd is not None
    with run.sessions() as s:
        incidents = list(s.scalars(select(Incident).order_by(Incident.id)))
        rows = {r.incident_id: r for r in s.scalars(select(DatadogMirror))}
    mirrored = [i for i in incidents if i.priority in ("P1", "P2") or i.datadog_id]
    assert mirrored, "no incident to mirror: the scenario did not exercise the mirror"
    unsynced = [i.ref for i in mirrored if i.datadog_id is None or rows[i.id].version > rows[i.id].synced_version]
    assert not unsynced, f"not mirrored (current) once Datadog was back: {unsynced[:10]}"
    markers = Counter(
        m.group(0)
        for inc in run.dd.incidents.values()
        for m in [re.search(r"warroom-INC-\d+-[0-9a-f]+", inc["cells"])]
        if m
    )
    assert len(run.dd.incidents) == len(mirrored), (len(run.dd.incidents), len(mirrored))
    assert max(markers.values()) == 1 and len(markers) == len(mirrored), "a Datadog incident was created twice"
    states = {"active": "active", "stable": "stable", "resolved": "resolved", "completed": "resolved"}
    for inc in mirrored:
        got = run.dd.state_of(str(inc.datadog_id))
        assert (got["title"], got["severity"], got["state"]) == (inc.title, inc.severity, states[inc.state]), inc.ref
    run.notes["datadog_incidents"] = len(run.dd.incidents)
    run.notes["datadog_calls"] = Counter(c.method for c in run.dd.calls)


def all_hold(run: Run, *, allow_db_warnings: bool = False) -> None:
    load_answered(run)
    events_stored_once(run)
    incidents_once(run)
    notifications_once(run)
    updates_kept(run)
    cadence_kept(run)
    logs_clean(run, allow_db_warnings=allow_db_warnings)
    no_secrets(run)
