"""One incident from `/warroom declare` to completed using only Slack (the postmortem's text through
the API): the commands, the card's buttons and the modals a person would use, against a real
`serve` with its worker thread."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.support.incidents import finish_postmortem
from tests.support.notify import make_policy, slack_channels
from tests.support.slack_app import card_fields, slack_rig


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_incident_from_declare_to_resolved_only_in_slack(engine: Engine, db_url: str) -> None:
    policy = make_policy(channels=slack_channels())
    with slack_rig(engine, db_url, policy, None, run_worker=True) as rig:
        rig.user("alice", "UALICE")
        rig.user("bob", "UBOB")
        api, slack = rig.api, rig.slack

        def card_says(**want: str) -> bool:
            def seen(calls: Any) -> bool:
                cards = [c.data for c in calls if c.ok and c.path.endswith(("chat.update", "chat.postMessage"))]
                cards = [d for d in cards if d.get("blocks") and d["blocks"][0]["type"] == "header"]
                return bool(cards) and all(card_fields(cards[-1]["blocks"]).get(k) == v for k, v in want.items())

            return api.wait_for(seen, 20)

        # declare through the modal
        assert slack.slash("UALICE", "declare Sign-in errors for everyone").status_code == 200
        view = slack.opened_views()[-1]
        values = {"services": ["sis"], "priority": "P1", "severity": "SEV-2", "summary": "Users cannot sign in"}
        assert slack.submit("UALICE", view, values).status_code == 200
        assert card_says(State="active", Priority="P1", Commander="<@UALICE>")
        [card] = [p for p in api.posts("#support") if p["blocks"][0]["type"] == "header"]
        ref = card["blocks"][0]["text"]["text"].split()[0]
        assert card["blocks"][0]["text"]["text"] == f"{ref} Sign-in errors for everyone"
        # bob takes command from the card, posts an update through its modal
        assert slack.click("UBOB", "card_take", ref).status_code == 200
        assert card_says(Commander="<@UBOB>")
        assert slack.click("UBOB", "card_update", ref).status_code == 200
        update = slack.opened_views()[-1]
        assert update["callback_id"] == "incident_update"
        assert slack.submit("UBOB", update, {"message": "Rolled back the IdP config."}).status_code == 200
        assert api.wait_for(lambda calls: any("Rolled back the IdP config." in c.body.decode() for c in calls), 20)
        # a note and the status from the command line of Slack
        assert slack.slash("UBOB", f"note {ref} error rate back to normal").json()["text"].startswith("Noted")
        assert ref in slack.slash("UALICE", "status").json()["text"]
        # stable, then resolved, from the card
        assert slack.click("UBOB", "card_stable", ref).status_code == 200
        assert card_says(State="stable")
        assert slack.click("UBOB", "card_resolve", ref).status_code == 200
        assert card_says(State="resolved")
        assert slack.slash("UALICE", "status").json()["text"] == "No incident is open."
        thread = [p for p in api.posts("#support") if p.get("thread_ts") == card["ts"]]
        assert any("resolved by bob" in p["text"] for p in thread)
        with rig.server.admin() as c:
            inc = c.get(f"/api/v1/incidents/{ref}").json()
            audit = c.get("/api/v1/audit", params={"actor": "bob"}).json()["items"]
            timeline = c.get(f"/api/v1/incidents/{ref}/timeline", params={"per_page": "200"}).json()["items"]
        assert inc["state"] == "resolved" and inc["commander"] == "bob"
        assert {a["via"] for a in audit} == {"slack"}
        # completed from Slack too: only by the commander, and only once the work is done
        assert slack.click("UALICE", "card_complete", ref).status_code == 200  # the card's button: refused
        assert api.wait_for(lambda calls: any("only the commander" in c.body.decode() for c in calls), 20)
        refused = slack.slash("UALICE", f"complete {ref}").json()["text"]
        assert refused.startswith(":no_entry:") and "only the commander (bob) can complete" in refused, refused
        missing = slack.slash("UBOB", f"complete {ref}").json()["text"]
        assert "users_impacted" in missing and "postmortem (still has TODO sections)" in missing, missing
        with rig.server.admin() as c:
            body = {"users_impacted": 10, "impacts": "sign-ins failed", "detection_method": "alert"}
            assert c.patch(f"/api/v1/incidents/{ref}", json=body).status_code == 200
            finish_postmortem(c, ref)
        assert slack.slash("UBOB", f"complete {ref}").json()["text"] == f"{ref} is now completed."
        assert card_says(State="completed")
        assert "complete INC-n" in slack.slash("UBOB", "complete").json()["text"]  # no ref: how to
        with rig.server.admin() as c:
            assert c.get(f"/api/v1/incidents/{ref}").json()["state"] == "completed"
        by_people = [e for e in timeline if e["actor"] in ("alice", "bob")]
        assert {"declared", "note", "status_update"} <= {e["kind"] for e in by_people}
        assert {e["via"] for e in by_people} == {"slack"}, by_people
