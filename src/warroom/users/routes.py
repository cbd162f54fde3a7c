"""/api/v1/users, /api/v1/tokens, /api/v1/me: people and their tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from warroom.api.deps import DB, Admin, ReadDB, State, Viewer
from warroom.users import service as users
from warroom.users.models import ApiToken, User

router = APIRouter(prefix="/api/v1", tags=["admin"])


class UserOut(BaseModel):
    """Read from the ORM row (from_attributes): `has_password` from whether it has a password hash."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

    handle: str
    name: str
    email: str | None
    slack_id: str | None
    role: str
    active: bool
    has_password: Annotated[bool, BeforeValidator(lambda v: v if isinstance(v, bool) else v is not None)] = Field(
        validation_alias=AliasChoices("has_password", "password_hash")
    )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: str = Field(min_length=1, max_length=64)
    role: Literal["viewer", "responder", "admin"] = "responder"
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    slack_id: str | None = Field(default=None, max_length=64)


class UserPatch(BaseModel):
    """Only email and slack_id can be cleared; null for the rest would break the stored user."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "responder", "admin"] | None = None
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    slack_id: str | None = Field(default=None, max_length=64)
    active: bool | None = None
    new_commander: str | None = Field(
        default=None, max_length=64, description="Deactivating someone who commands incidents: who takes them over"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_null_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k in ("role", "name", "active") if k in data and data[k] is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave the field out to keep it")
        return data


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["user", "ingest"] = "user"
    user: str | None = None
    name: str = Field(default="", max_length=120)


class TokenOut(BaseModel):
    id: int
    kind: str
    name: str
    user: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last use, at most a minute stale; null: never used")
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored")


class WhoAmI(BaseModel):
    handle: str
    role: str


def _user_out(u: User) -> UserOut:
    return UserOut.model_validate(u)


def _token_out(t: ApiToken, db: Any) -> dict[str, Any]:
    owner = db.get(User, t.user_id) if t.user_id else None
    return {
        "id": t.id,
        "kind": t.kind,
        "name": t.name,
        "user": owner.handle if owner else None,
        "prefix": t.prefix,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    }


@router.get("/me", response_model=WhoAmI)
def whoami(who: Viewer) -> WhoAmI:
    return WhoAmI(handle=who.handle, role=who.role)


@router.get("/users", response_model=list[UserOut])
def list_users(db: ReadDB, who: Viewer) -> list[UserOut]:
    return [_user_out(u) for u in db.query(User).order_by(User.handle)]


@router.post("/users", status_code=201, response_model=UserOut)
def add_user(body: UserIn, state: State, db: DB, who: Admin) -> UserOut:
    user = users.create_user(
        db,
        now=state.now(),
        handle=body.handle,
        role=body.role,
        name=body.name,
        email=body.email,
        slack_id=body.slack_id,
    )
    return _user_out(user)


@router.patch("/users/{handle}", response_model=UserOut)
def edit_user(handle: str, body: UserPatch, state: State, db: DB, who: Admin) -> UserOut:
    user = users.require(db, handle)
    given = body.model_dump(exclude_unset=True)
    replacement = given.pop("new_commander", None)
    if "active" in given:
        users.set_active(
            db,
            user=user,
            active=given.pop("active"),
            hooks=state.hooks,
            policy=state.policy,
            actor=who.handle,
            now=state.now(),
            replacement=replacement,
        )
    for name, value in given.items():
        setattr(user, name, value)
    return _user_out(user)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(db: ReadDB, who: Admin) -> list[dict[str, Any]]:
    return [_token_out(t, db) for t in users.list_tokens(db)]


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def create_token(body: TokenIn, state: State, db: DB, who: Admin) -> dict[str, Any]:
    owner = users.require(db, body.user) if body.user else None
    if body.kind == "user" and owner is None:
        owner = users.require(db, who.handle)
    row, plain = users.create_token(
        db, now=state.now(), user=owner if body.kind == "user" else None, kind=body.kind, name=body.name
    )
    return {**_token_out(row, db), "token": plain}


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: int, state: State, db: DB, who: Admin) -> dict[str, Any]:
    return _token_out(users.revoke_token(db, now=state.now(), token_id=token_id), db)
