"""Incidents from Slack: `/warroom declare|update|stable|resolve|complete|note|ack|status|help`, the card's
buttons, the declare prompt's buttons, and the declare and update modals. Each is the API's use
case with the API's role; views are opened within the trigger's life, changes go through rows."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from warroom.alerts.models import Alert
from warroom.core import refs
from warroom.core.errors import Conflict, Invalid, NotFound
from warroom.incidents import command, drafts, modals, queries, updates
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications.blocks import cut, escape
from warroom.slack import auth
from warroom.slack.handlers import Ctx, Reply, Route, SlackHandlers

PICK = "incident_pick"  # action id prefix of the open-incident picker: incident_pick_<verb>
VERBS = ("update", "stable", "resolve", "ack")


def _split(args: str) -> tuple[str | None, str]:
    """`INC-4 the rest` -> ("INC-4", "the rest"); no ref -> (None, args)."""
    first, _, rest = args.strip().partition(" ")
    try:
        return f"INC-{refs.number(first)}", rest.strip()
    except NotFound:
        return None, args.strip()


def _picker(ctx: Ctx, verb: str) -> Reply:
    """Slash commands do not work in threads, so a command without INC-n offers the open ones."""
    open_ = queries.open_incidents(ctx.session, limit=100)
    if not open_:
        return Reply(text="No incident is open.")
    options = [
        {"text": {"type": "plain_text", "text": cut(f"{i.ref} {i.priority} {i.title}", 75)}, "value": i.ref}
        for i in open_
    ]
    return Reply(
        text=f"Which incident? (or `{ctx.policy.slack.command} {verb} INC-n`)",
        blocks=[
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Which incident do you want to *{verb}*?"},
                "accessory": {
                    "type": "static_select",
                    "action_id": f"{PICK}_{verb}",
                    "placeholder": {"type": "plain_text", "text": "Open incidents"},
                    "options": options,
                },
            }
        ],
    )


def _locked(ctx: Ctx, ref: str) -> Incident:
    return incidents.get(ctx.session, ref, for_update=True)


# ---- the verbs, shared by commands, buttons and the picker


def _open_update(ctx: Ctx, ref: str) -> Reply:
    incident = incidents.get(ctx.session, ref)
    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; no more status updates")
    draft = drafts.build(ctx.session, incident=incident, now=ctx.now)["text"]
    return Reply(view=modals.update_view(incident.ref, incident.title, draft), audit="slack open update", target=ref)


def _post_update(ctx: Ctx, ref: str, message: str) -> Reply:
    incident = _locked(ctx, ref)
    updates.post_update(
        ctx.session, policy=ctx.policy, now=ctx.now, actor=ctx.actor, incident=incident, message=message
    )
    return Reply(text=f"Update posted on {incident.ref}.", audit="slack update", target=incident.ref)


def _move(ctx: Ctx, ref: str, to: str, reason: str | None = None) -> Reply:
    incident = _locked(ctx, ref)
    incidents.transition(
        ctx.session,
        policy=ctx.policy,
        now=ctx.now,
        actor=ctx.actor,
        incident=incident,
        to=to,
        reason=reason or None,
        hooks=ctx.state.hooks,
    )
    return Reply(text=f"{incident.ref} is now {to}.", audit=f"slack {to}", target=incident.ref)


def _ack(ctx: Ctx, ref: str) -> Reply:
    incident = _locked(ctx, ref)
    if not incidents.acknowledge(ctx.session, policy=ctx.policy, now=ctx.now, actor=ctx.actor, incident=incident):
        return Reply(text=f"{incident.ref} was already acknowledged.", audit="slack ack", target=incident.ref)
    return Reply(text=f"You acknowledged {incident.ref}.", audit="slack ack", target=incident.ref)


def _verb(ctx: Ctx, verb: str, ref: str, rest: str = "") -> Reply:
    if verb == "update":
        return _post_update(ctx, ref, rest) if rest else _open_update(ctx, ref)
    if verb == "stable":
        return _move(ctx, ref, "stable", rest)
    if verb == "resolve":
        return _move(ctx, ref, "resolved", rest)
    if verb == "complete":
        return _move(ctx, ref, "completed", rest)
    return _ack(ctx, ref)


# ---- slash commands


def _command(verb: str) -> Route:
    def handler(ctx: Ctx) -> Reply:
        ref, rest = _split(ctx.args)
        return _verb(ctx, verb, ref, rest) if ref else _picker(ctx, verb)

    return Route(handler)


def note(ctx: Ctx) -> Reply:
    ref, text = _split(ctx.args)
    if not ref or not text:
        return Reply(text=f"Usage: `{ctx.policy.slack.command} note INC-n what happened`")
    incident = _locked(ctx, ref)
    updates.add_note(ctx.session, now=ctx.now, actor=ctx.actor, incident=incident, text=text)
    return Reply(text=f"Noted on {incident.ref}'s timeline.", audit="slack note", target=incident.ref)


def complete(ctx: Ctx) -> Reply:
    """The commander completes a resolved incident; refused with what is missing (postmortem, fields)."""
    ref, reason = _split(ctx.args)
    if not ref:
        return Reply(text=f"Usage: `{ctx.policy.slack.command} complete INC-n` (the commander, once the work is done)")
    return _verb(ctx, "complete", ref, reason)


def status(ctx: Ctx) -> Reply:
    open_ = queries.open_incidents(ctx.session, limit=50)
    if not open_:
        return Reply(text="No incident is open.")
    lines = []
    for i in open_:
        due = i.next_update_due_at
        when = f"<!date^{int(due.timestamp())}^update due {{time}}|update due {due:%H:%M} UTC>" if due else "no cadence"
        lines.append(
            f"*{escape(i.ref)}* {escape(i.priority)} {escape(i.severity)} {escape(i.state)} — "
            f"{escape(cut(i.title, 120))} · {escape(i.commander)} · {when}"
        )
    return Reply(
        text="\n".join(lines),
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": cut("\n".join(lines), 3000)}}],
    )


def help_(ctx: Ctx) -> Reply:
    name = ctx.policy.slack.command
    lines = [f"*{name}* — run an incident from Slack:"]
    lines += [
        f"`{name} declare` opens the declare form",
        f"`{name} update INC-n [text]` posts an update (no text: a form with the draft)",
        f"`{name} stable INC-n` · `{name} resolve INC-n [reason]` · `{name} ack INC-n`",
        f"`{name} complete INC-n` completes a resolved incident (its commander, once the postmortem is done)",
        f"`{name} note INC-n text` adds to the timeline",
        f"`{name} status` lists open incidents and when their next update is due",
        "Without INC-n you pick from the open incidents (slash commands do not work in threads).",
    ]
    return Reply(text="\n".join(lines))


def declare_command(ctx: Ctx) -> Reply:
    view = modals.declare_view(ctx.policy, commander_slack_id=ctx.user.slack_id, title=ctx.args)
    return Reply(view=view, audit="slack open declare")


# ---- buttons: the card's (value: INC-n), the picker's and the declare prompt's (value: alert id)


def _button(verb: str) -> Route:
    return Route(lambda ctx: _verb(ctx, verb, ctx.incoming.value))


def take_command(ctx: Ctx) -> Reply:
    incident = _locked(ctx, ctx.incoming.value)
    command.hand_over(ctx.session, policy=ctx.policy, now=ctx.now, actor=ctx.actor, incident=incident, to=ctx.actor)
    return Reply(text=f"You command {incident.ref} now.", audit="slack take command", target=incident.ref)


def prompt_declare(ctx: Ctx) -> Reply:
    """Declare from a prompt: the modal prefilled from the alert, which it attaches."""
    alert = ctx.session.get(Alert, int(ctx.incoming.value)) if ctx.incoming.value.isdigit() else None
    if alert is None:
        raise Conflict("that alert is no longer stored")
    if alert.incident_id is not None:
        raise Conflict(f"that alert is already in INC-{alert.incident_id}")
    view = modals.declare_view(
        ctx.policy,
        commander_slack_id=ctx.user.slack_id,
        services=[alert.service] if alert.service else None,
        priority=alert.priority,
        title=alert.title,
        alert_id=alert.id,
        prompt={"response_url": ctx.incoming.response_url},
    )
    return Reply(view=view, audit="slack open declare", target=f"alert {alert.id}")


def prompt_dismiss(ctx: Ctx) -> Reply:
    who = auth.mention(ctx.user)
    return Reply(
        replace={"text": f"Declare prompt dismissed by {who}: no incident.", "blocks": []},
        audit="slack dismiss prompt",
        target=f"alert {ctx.incoming.value}",
    )


# ---- modal submissions


def declare_submit(ctx: Ctx) -> Reply:
    inc = ctx.incoming
    meta: dict[str, Any] = json.loads(inc.private_metadata or "{}")
    commander_id = inc.field("commander")
    commander = auth.find(ctx.session, commander_id) if commander_id else ctx.user
    if commander is None:
        raise Invalid(
            "that Slack user is not linked to a warroom user (ask an admin: warroom user add ... --slack-id)",
            {"field": "commander"},
        )
    services = inc.field("services") or []
    if not services:
        raise Invalid("pick at least one service", {"field": "services"})
    try:
        data = IncidentCreate(
            services=services,
            priority=inc.field("priority") or "P3",
            severity=inc.field("severity") or ctx.policy.triage.default_severity,
            title=inc.field("title") or None,
            commander=commander.handle,
            alerts=[int(meta["alert_id"])] if meta.get("alert_id") else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(first["msg"], {"field": str(first["loc"][0]) if first["loc"] else "title"}) from None
    incident = incidents.declare(ctx.session, policy=ctx.policy, now=ctx.now, actor=ctx.actor, data=data)
    summary = (inc.field("summary") or "").strip()
    if summary:
        updates.add_note(ctx.session, now=ctx.now, actor=ctx.actor, incident=incident, text=f"Summary: {summary}")
    reply = Reply(audit="slack declare", target=incident.ref)
    url = (meta.get("prompt") or {}).get("response_url")
    if url:
        who = auth.mention(ctx.user)
        reply.replace = {"text": f"Declared as *{escape(incident.ref)}* by {who}.", "blocks": []}
        reply.response_url = url
    return reply


def update_submit(ctx: Ctx) -> Reply:
    meta: dict[str, Any] = json.loads(ctx.incoming.private_metadata or "{}")
    message = (ctx.incoming.field("message") or "").strip()
    if not message:
        raise Invalid("an update needs a message", {"field": "message"})
    return _post_update(ctx, str(meta.get("incident", "")), message)


def register(slack: SlackHandlers) -> None:
    slack.command("help", Route(help_, role="viewer"))
    slack.command("status", Route(status, role="viewer"))
    slack.command("declare", Route(declare_command))
    slack.command("note", Route(note))
    slack.command("complete", Route(complete))
    for verb in VERBS:
        slack.command(verb, _command(verb))
        slack.action(f"{PICK}_{verb}", _button(verb))
    slack.action("card_update", _button("update"))
    slack.action("card_ack", _button("ack"))
    slack.action("card_stable", _button("stable"))
    slack.action("card_resolve", _button("resolve"))
    slack.action("card_complete", _button("complete"))
    slack.action("card_take", Route(take_command))
    slack.action("prompt_declare", Route(prompt_declare))
    slack.action("prompt_dismiss", Route(prompt_dismiss))
    slack.view(modals.DECLARE, Route(declare_submit))
    slack.view(modals.UPDATE, Route(update_submit))
