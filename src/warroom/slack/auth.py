"""Who is asking: a Slack user is the warroom user whose `slack_id` it is (the API's roles apply)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.policy.schema import Policy
from warroom.users import service as users
from warroom.users.models import User

_NOT_HANDLE = re.compile(r"[^a-z0-9_.-]+")


def link_help(slack_id: str) -> str:
    from warroom.notifications.blocks import escape

    slack_id = escape(slack_id)
    return (
        f"You are not a warroom user yet (Slack id `{slack_id}`). Ask a warroom admin to link you: "
        f"`warroom user add YOUR-HANDLE --slack-id {slack_id}`, or set `slack_id` on your user "
        f"(`PATCH /api/v1/users/YOUR-HANDLE`)."
    )


def find(session: Session, slack_id: str) -> User | None:
    if not slack_id:
        return None
    return session.scalar(select(User).where(User.slack_id == slack_id).order_by(User.id).limit(1))


def _free_handle(session: Session, name: str, slack_id: str) -> str:
    base = _NOT_HANDLE.sub("-", name.lower()).strip("-._")[:48] or f"slack-{slack_id.lower()}"
    if not base[0].isalnum():
        base = "u" + base
    handle, n = base, 1
    while users.by_handle(session, handle) is not None:
        n += 1
        handle = f"{base}-{n}"
    return handle


def resolve(session: Session, *, policy: Policy, now: datetime, slack_id: str, name: str) -> User | None:
    """The linked user; or, if the policy says so, a new viewer (who can read but not act)."""
    user = find(session, slack_id)
    if user is not None or not policy.slack.create_unknown_users or not slack_id:
        return user
    return users.create_user(
        session, now=now, handle=_free_handle(session, name, slack_id), role="viewer", name=name, slack_id=slack_id
    )


def mention(user: User) -> str:
    """`<@U123>` for a linked user (an id that is only letters and digits), else the escaped handle."""
    from warroom.notifications.blocks import escape

    if user.slack_id and user.slack_id.isalnum():
        return f"<@{user.slack_id}>"
    return escape(user.handle)
