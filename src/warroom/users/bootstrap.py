"""First start on an empty database: an admin, a one-time token, and how to use them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from warroom.users import service as users
from warroom.users.models import AppSetting


@dataclass(frozen=True)
class FirstRun:
    handle: str
    token: str
    password: str


def ensure_admin(session: Session, *, now: datetime) -> FirstRun | None:
    """Create `admin` with a token and password when there are no users; otherwise nothing."""
    if users.count_users(session) > 0:
        return None
    admin = users.create_user(session, now=now, handle="admin", role="admin", name="Administrator")
    password = secrets.token_urlsafe(12)
    users.set_password(admin, password)
    _, token = users.create_token(session, now=now, user=admin, kind="user", name="first-run")
    return FirstRun(handle=admin.handle, token=token, password=password)


def secret_key(session: Session) -> str:
    """The signing key for web sessions: one per database, so every node shares it."""
    row = session.get(AppSetting, "secret_key")
    if row is None:
        row = AppSetting(key="secret_key", value=secrets.token_urlsafe(48))
        session.add(row)
        session.flush()
    return row.value


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
