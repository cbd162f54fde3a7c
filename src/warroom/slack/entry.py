"""POST /slack/events: verify the signature, parse, claim the request once, map the user, check the
role, run the domain's handler in one unit of work (channel `slack`), then answer within Slack's
3 seconds. The ack only validates and writes rows; what leaves for Slack later is outbox rows."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from warroom.api.deps import get_state
from warroom.core import metrics
from warroom.core.errors import Invalid, WarroomError
from warroom.core.state import AppState
from warroom.core.uow import UnitOfWork
from warroom.notifications.blocks import escape
from warroom.slack import api, auth, payloads, verify
from warroom.slack.handlers import Ctx, Reply, Route, SlackHandlers
from warroom.slack.models import SlackRequest
from warroom.users.service import RANK

log = logging.getLogger(__name__)
PATH = "/slack/events"


class _Duplicate(Exception):
    """Slack asked for this already (a retry, a double click, a double submit)."""


def _ack() -> Response:
    return Response(status_code=200)


def build_router(handlers: SlackHandlers) -> APIRouter:
    router = APIRouter()

    @router.post(PATH, include_in_schema=False)
    async def events(request: Request) -> Response:
        state = get_state(request)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        why = verify.problem(
            state.settings.slack_signing_secret, headers, body, now=lambda: state.clock.now().timestamp()
        )
        if why:  # never log the body: it is whoever sent it's
            metrics.SLACK_REQUESTS.labels(kind="unknown", outcome="unsigned").inc()
            log.warning("/slack/events refused: %s (%d bytes from %s)", why, len(body), request.client)
            return JSONResponse({"error": "invalid_signature"}, 401)
        try:
            incoming = payloads.parse(body, headers.get("content-type", ""))
        except payloads.BadPayload as exc:
            metrics.SLACK_REQUESTS.labels(kind="unknown", outcome="bad_payload").inc()
            return JSONResponse({"error": str(exc)}, 400)
        if incoming.kind == "url_verification":
            return JSONResponse({"challenge": incoming.challenge})
        return await run_in_threadpool(dispatch, state, handlers, incoming)

    return router


def _route(handlers: SlackHandlers, inc: payloads.Incoming) -> tuple[Route | None, str, str]:
    """The route, its name (for the audit) and a command's arguments."""
    if inc.kind == "command":
        sub, _, args = inc.text.partition(" ")
        sub = sub.strip().lower() or "help"
        return handlers.commands.get(sub) or handlers.commands.get("help"), sub, args.strip()
    if inc.kind == "block_actions":
        return handlers.actions.get(inc.action_id), inc.action_id, ""
    if inc.kind == "view_submission":
        return handlers.views.get(inc.callback_id), inc.callback_id, ""
    return None, inc.kind, ""


def dispatch(state: AppState, handlers: SlackHandlers, inc: payloads.Incoming) -> Response:
    route, name, args = _route(handlers, inc)
    if route is None:  # events, closed modals, buttons of a message we no longer know: nothing to do
        metrics.SLACK_REQUESTS.labels(kind=inc.kind, outcome="ignored").inc()
        return _ack()
    uow = UnitOfWork(state.sessions, clock=state.clock, channel="slack", audit="changes")
    outcome = "ok"
    try:
        with uow as session:
            if inc.key:
                session.add(SlackRequest(key=inc.key[:200], kind=inc.kind, user_id=inc.user_id, created_at=state.now()))
                try:
                    session.flush()
                except IntegrityError:
                    raise _Duplicate from None
            user = auth.resolve(session, policy=state.policy, now=state.now(), slack_id=inc.user_id, name=inc.user_name)
            if user is None or not user.active:
                outcome = "unknown_user"
                reply = Reply(text=auth.link_help(inc.user_id) if user is None else "Your warroom user is deactivated.")
            elif RANK.get(user.role, -1) < RANK[route.role]:
                outcome = "forbidden"
                reply = Reply(text=f"This needs the {route.role} role in warroom; you are a {user.role}.")
            else:
                reply = route.handler(Ctx(state=state, incoming=inc, session=session, user=user, args=args))
            if user is not None:
                uow.actor = user.handle
                uow.note(reply.audit or f"slack {name}", reply.target)
    except _Duplicate:
        metrics.SLACK_REQUESTS.labels(kind=inc.kind, outcome="duplicate").inc()
        log.info("/slack/events: %s answered already", inc.key)
        return _ack()
    except WarroomError as exc:
        outcome = "refused"
        reply = _refusal(exc, inc)
    metrics.SLACK_REQUESTS.labels(kind=inc.kind, outcome=outcome).inc()
    if reply.view is not None and reply.errors is None:
        problem = api.open_view(state.settings, inc.trigger_id, reply.view)
        if problem:
            reply.text = problem
    return _answer(inc, reply)


def _refusal(exc: WarroomError, inc: payloads.Incoming) -> Reply:
    """A refused change explains itself: under the modal's field, or ephemerally."""
    details: dict[str, Any] = exc.details if isinstance(exc.details, dict) else {}
    text = exc.message
    if details.get("missing"):
        text += ": " + "; ".join(str(m) for m in details["missing"])
    elif details.get("allowed") and not isinstance(exc, Invalid):
        text += f" (allowed: {', '.join(map(str, details['allowed']))})"
    if inc.kind == "view_submission" and inc.block_ids:
        block = details.get("field") if details.get("field") in inc.block_ids else inc.block_ids[0]
        return Reply(errors={str(block): text[:2000]})
    return Reply(text=f":no_entry: {escape(text)}")  # it may quote what the person typed


def _answer(inc: payloads.Incoming, reply: Reply) -> Response:
    url = reply.response_url or inc.response_url
    if inc.kind == "view_submission":
        if reply.errors:
            return JSONResponse({"response_action": "errors", "errors": reply.errors})
        if reply.replace and url:  # an empty 200 closes the modal; then the prompt it came from is rewritten
            body = {"replace_original": True, "response_type": "in_channel", **reply.replace}
            return Response(status_code=200, background=BackgroundTask(_respond_all, url, [body]))
        return _ack()
    message: dict[str, Any] = {}
    if reply.text:
        message["text"] = reply.text
    if reply.blocks:
        message["blocks"] = reply.blocks
    if inc.kind == "command":
        return JSONResponse({"response_type": "ephemeral", **message}) if message else _ack()
    tasks: list[dict[str, Any]] = []
    if reply.replace:
        tasks.append({"replace_original": True, "response_type": "in_channel", **reply.replace})
    if message:
        tasks.append({"replace_original": False, **message})
    if not tasks or not url:
        return _ack()
    return Response(status_code=200, background=BackgroundTask(_respond_all, url, tasks))


def _respond_all(url: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        api.respond(url, body)
