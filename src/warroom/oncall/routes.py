"""/api/v1/oncall: who is on call now (or at `at`), the shifts of a schedule, overrides."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Path, Query, Response

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.oncall import refresh
from warroom.oncall import service as oncall
from warroom.oncall.schemas import OnCallOut, OverrideIn, OverrideOut, RefreshOut, ShiftOut

router = APIRouter(prefix="/api/v1/oncall", tags=["on call"])
VIEW = timedelta(days=14)


@router.get("", response_model=list[OnCallOut])
def who_is_on_call(
    state: State,
    db: ReadDB,
    who: Viewer,
    at: datetime | None = Query(default=None, description="An instant (default now; no offset means UTC)"),
    schedule: str | None = Query(default=None, max_length=64, description="Only this schedule"),
) -> list[OnCallOut]:
    """Every schedule (or one): who is on call, since and until when, who is next."""
    when = at or state.now()
    names = [schedule] if schedule else list(state.policy.schedules)
    people = oncall.People(db)
    out = []
    for name in names:
        spec = oncall.require_schedule(state.policy, name)
        answer = oncall.who(db, state.policy, schedule=name, at=when, people=people)
        out.append(OnCallOut.of(answer, name=spec.name, kind=spec.kind, timezone=spec.timezone))
    return out


@router.get("/schedules/{schedule}/shifts", response_model=list[ShiftOut])
def shifts(
    schedule: str,
    state: State,
    db: ReadDB,
    who: Viewer,
    start: datetime | None = Query(default=None, description="Default now"),
    end: datetime | None = Query(default=None, description="Default 14 days after start"),
) -> list[ShiftOut]:
    """The schedule's shifts in [start, end), gaps included (`who` null, `via` gap, or unknown past
    what an external source says), overrides applied."""
    first = start or state.now()
    last = end or oncall.check_instant(first, "start") + VIEW
    return [ShiftOut.of(s) for s in oncall.timeline(db, state.policy, schedule=schedule, start=first, end=last)]


@router.get("/overrides", response_model=list[OverrideOut])
def list_overrides(
    state: State,
    db: ReadDB,
    who: Viewer,
    schedule: str | None = Query(default=None, max_length=64),
    past: bool = Query(default=False, description="Include overrides that are over"),
) -> list[OverrideOut]:
    rows = oncall.list_overrides(db, schedule=schedule, ending_after=None if past else state.now())
    return [OverrideOut(**oncall.override_view(r, h)) for r, h in rows]


@router.post("/overrides", status_code=201, response_model=OverrideOut)
def add_override(body: OverrideIn, state: State, db: DB, who: Responder) -> OverrideOut:
    """`user` covers `schedule` from `start` to `end`; 409 when it overlaps another override."""
    row = oncall.add_override(
        db,
        state.policy,
        now=state.now(),
        actor=who.handle,
        schedule=body.schedule,
        user=body.user,
        start=body.start,
        end=body.end,
        timezone=body.timezone,
        note=body.note,
    )
    return OverrideOut(**oncall.override_view(row, body.user.strip().lower()))


@router.delete("/overrides/{override_id}", status_code=204)
def remove_override(db: DB, who: Responder, override_id: int = Path(ge=1, le=2**31 - 1)) -> Response:
    oncall.remove_override(db, override_id=override_id)
    return Response(status_code=204)


@router.post("/refresh", response_model=list[RefreshOut])
def refresh_now(
    state: State, who: Responder, schedule: str | None = Query(default=None, max_length=64)
) -> list[RefreshOut]:
    """Fetch external schedules (iCal, PagerDuty) now instead of at their next refresh."""
    if schedule:
        oncall.require_schedule(state.policy, schedule)
    done = refresh.refresh(state.sessions, state.policy, state.settings, state.clock, force=True, only=schedule)
    return [RefreshOut(schedule=o.schedule, ok=o.ok, shifts=o.shifts, error=o.error) for o in done]
