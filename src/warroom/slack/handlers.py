"""What a domain's `slack.py` adds: slash subcommands, button actions and modal submissions, each
with the role it needs, and the `Reply` the entry turns into Slack's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.core.state import AppState
from warroom.policy.schema import Policy
from warroom.slack.payloads import Incoming
from warroom.users.models import User


@dataclass
class Ctx:
    """One request from Slack: who (a warroom user), what, and the transaction to change things in."""

    state: AppState
    incoming: Incoming
    session: Session
    user: User
    args: str = ""  # a command's text after its subcommand

    @property
    def policy(self) -> Policy:
        return self.state.policy

    @property
    def now(self) -> datetime:
        return self.state.now()

    @property
    def actor(self) -> str:
        return self.user.handle


@dataclass
class Reply:
    """`text`/`blocks`: an ephemeral answer; `view`: a modal to open with the request's trigger
    (after the commit); `errors`: a modal's field errors (block id -> message); `replace`: the
    message the button was on, rewritten through its response_url (a prompt once dismissed)."""

    text: str | None = None
    blocks: list[dict[str, Any]] | None = None
    view: dict[str, Any] | None = None
    errors: dict[str, str] | None = None
    replace: dict[str, Any] | None = None
    audit: str = ""
    target: str | None = None
    response_url: str | None = None  # where `replace` goes when not the request's own (a modal's prompt)


Handler = Callable[[Ctx], Reply]


@dataclass(frozen=True)
class Route:
    handler: Handler
    role: str = "responder"  # the API's rule: viewers read, responders act (completing: commander only)


@dataclass
class SlackHandlers:
    """Filled by the domains' register(); actions match on their whole `action_id`."""

    commands: dict[str, Route] = field(default_factory=dict)
    actions: dict[str, Route] = field(default_factory=dict)
    views: dict[str, Route] = field(default_factory=dict)

    def command(self, name: str, route: Route) -> None:
        self._add(self.commands, name, route)

    def action(self, action_id: str, route: Route) -> None:
        self._add(self.actions, action_id, route)

    def view(self, callback_id: str, route: Route) -> None:
        self._add(self.views, callback_id, route)

    @staticmethod
    def _add(table: dict[str, Route], key: str, route: Route) -> None:
        if key in table:
            raise ValueError(f"Slack handler '{key}' registered twice")
        table[key] = route
