"""What every policy section shares: strict parsing, durations as text, the priority levels."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from warroom.policy.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Priority = Literal["P1", "P2", "P3", "P4"]


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a policy must not silently change the process."""

    model_config = ConfigDict(extra="forbid", frozen=True)
