"""What the databases can hold: a number or time past it is the caller's mistake (a 422 naming the field), not a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

DB_INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL (SQLite holds 2**63 - 1)


def in_utc_range(value: datetime) -> datetime:
    """An aware time as UTC; one that leaves the calendar in UTC (0001-01-01T00:00+14:00) is refused."""
    if value.tzinfo is None:
        return value  # naive: the caller decides (UTC, or refused where an offset is required)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# For query parameters and bodies alike.
UtcDateTime = Annotated[datetime, AfterValidator(in_utc_range)]
