"""First start on an empty database (an admin, a one-time token, and how to use them), and what
every node shares through `app_settings`: the policy the server runs."""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from warroom.users import service as users
from warroom.users.models import AppSetting


@dataclass(frozen=True)
class FirstRun:
    handle: str
    token: str
    password: str


FIRST_START_LOCK = 0x7761_7273  # "wars": the advisory lock two nodes starting together take turns on


def first_start_lock(session: Session) -> None:
    """Nodes starting together on an empty database take turns until this transaction ends
    (PostgreSQL; a SQLite transaction holds the write lock from its BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRST_START_LOCK})


def ensure_admin(session: Session, *, now: datetime) -> FirstRun | None:
    """Create `admin` with a token and password when there are no users; otherwise nothing.
    Under the first-start lock: the second of two nodes started together finds the first's admin."""
    first_start_lock(session)
    if users.count_users(session) > 0:
        return None
    admin = users.create_user(session, now=now, handle="admin", role="admin", name="Administrator")
    password = secrets.token_urlsafe(12)
    users.set_password(admin, password)
    _, token = users.create_token(session, now=now, user=admin, kind="user", name="first-run")
    return FirstRun(handle=admin.handle, token=token, password=password)


POLICY_KEY = "policy_in_force"


@dataclass(frozen=True)
class PolicyInForce:
    """What `serve` recorded at its start: the CLI must compute with the same policy."""

    path: str | None  # None: the bundled reference policy
    sha256: str
    host: str
    recorded_at: str

    @property
    def name(self) -> str:
        return self.path or "the bundled reference policy"


def record_policy(session: Session, *, path: str | None, sha256: str, now: datetime) -> PolicyInForce | None:
    """Record the policy this server runs (a write only when it changed: an audited change);
    returns the one recorded before if it was another."""
    before = recorded_policy(session)
    if before is not None and (before.path, before.sha256) == (path, sha256):
        return None
    mine = PolicyInForce(path=path, sha256=sha256, host=socket.gethostname()[:200], recorded_at=now.isoformat())
    row = session.get(AppSetting, POLICY_KEY)
    value = json.dumps(mine.__dict__)[:2000]
    if row is None:
        session.add(AppSetting(key=POLICY_KEY, value=value))
    else:
        row.value = value
    session.flush()
    return before


def recorded_policy(session: Session) -> PolicyInForce | None:
    row = session.get(AppSetting, POLICY_KEY)
    if row is None:
        return None
    try:
        return PolicyInForce(**json.loads(row.value))
    except (ValueError, TypeError):
        return None


def first_run_message(run: FirstRun, base_url: str) -> str:
    return (
        "\n=== warroom first start ===\n"
        f"Created admin user '{run.handle}'.\n"
        f"  API token (shown once): {run.token}\n"
        f"  Web password (shown once): {run.password}\n"
        f"Try it:\n"
        f"  curl -H 'Authorization: Bearer {run.token}' {base_url}/api/v1/incidents\n"
        f"  open {base_url}/ and sign in as {run.handle}\n"
        "Change the password with: warroom user passwd admin\n"
        "===========================\n"
    )
