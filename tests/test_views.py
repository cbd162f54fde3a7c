"""The API shapes read the ORM rows themselves (Pydantic from_attributes), and the web forms are Pydantic models
with clear field errors (issue 17's cleanups); both databases."""

from __future__ import annotations

from sqlalchemy import select

from tests.support.alert_rows import add_alert
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.alerts.models import Alert
from warroom.alerts.schemas import AlertOut
from warroom.deploys.models import OobRequest
from warroom.deploys.schemas import OobOut
from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.incidents.schemas import IncidentOut, TimelineOut, UpdateOut
from warroom.notifications.models import Notification
from warroom.notifications.schemas import NotificationOut
from warroom.users.models import User
from warroom.users.routes import UserOut


def test_schemas_read_the_rows_as_the_api_shows_them(server: Running) -> None:
    with server.admin() as c:
        inc = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"}).json()
        ref = inc["id"]
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "rolling back"}).status_code == 201
        oob = c.post(f"/api/v1/incidents/{ref}/oob-requests", json={"prs": ["https://git.example/pr/1"]}).json()
    add_alert(server.state.sessions, service="sis", at=server.state.now(), incident_id=inc["number"])
    with server.admin() as c:
        api = {
            "incident": c.get(f"/api/v1/incidents/{ref}").json(),
            "timeline": c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"][0],
            "update": c.get(f"/api/v1/incidents/{ref}/updates").json()[0],
            "alert": c.get("/api/v1/alerts").json()["items"][0],
            "user": c.get("/api/v1/users").json()[0],
            "oob": c.get(f"/api/v1/incidents/{ref}/oob-requests/{oob['id']}").json(),
            "notification": c.get("/api/v1/notifications", params={"state": "pending"}).json()["items"][0],
        }
    with server.state.sessions() as s:
        read = {
            "incident": IncidentOut.model_validate(s.scalars(select(Incident)).one()),
            "timeline": TimelineOut.model_validate(s.scalars(select(TimelineEntry).order_by(TimelineEntry.id)).first()),
            "update": UpdateOut.model_validate(s.scalars(select(StatusUpdate)).one()),
            "alert": AlertOut.model_validate(s.scalars(select(Alert)).one()),
            "user": UserOut.model_validate(s.scalars(select(User)).one()),
            "oob": OobOut.model_validate(s.scalars(select(OobRequest)).one()),
            "notification": NotificationOut.model_validate(
                s.scalars(
                    select(Notification).where(Notification.state == "pending").order_by(Notification.id.desc())
                ).first()
            ),
        }
    json = {name: model.model_dump(mode="json") for name, model in read.items()}
    # the detail views add what the row does not hold (alerts of the incident, the OOB checklist)
    for key in ("alerts", "alerts_total", "alerts_firing"):
        api["incident"].pop(key), json["incident"].pop(key)
    for key in ("checklist", "checklist_missing", "form_missing", "allowed_transitions"):
        api["oob"].pop(key), json["oob"].pop(key)
    assert json == api
    assert json["incident"]["id"] == ref and json["alert"]["incident"] == ref and json["user"]["has_password"] is True


def test_web_forms_name_the_bad_field(server: Running) -> None:
    make_web_user(server, "alice")
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"}).json()[
            "id"
        ]
        version = c.get(f"/api/v1/incidents/{ref}").json()["version"]
    alice, csrf = login(server, "alice")
    form = {"csrf": csrf, "version": version, "title": "t", "priority": "P1", "severity": "SEV-2", "services": "sis"}
    cases = [
        ({**form, "users_impacted": "lots"}, "users_impacted: must be a whole number"),
        ({**form, "users_impacted": "-3"}, "users_impacted: Input should be greater than or equal to 0"),
        ({**form, "priority": "P9"}, "priority: Input should be"),
    ]
    for data, message in cases:
        r = alice.post(f"/incidents/{ref}/edit", data=data, follow_redirects=True)
        assert message in r.text, (message, r.text[:2000])
    r = alice.post(
        f"/incidents/{ref}/notes", data={"csrf": csrf, "text": "x", "occurred_at": "yesterday"}, follow_redirects=True
    )
    assert "occurred_at: the time looks like 2026-10-05T09:30 (UTC)" in r.text
    r = alice.post(f"/incidents/{ref}/updates", data={"csrf": csrf, "message": "  "}, follow_redirects=True)
    assert "message: a status update needs a message" in r.text
