"""Every legal and illegal move of the lifecycle table, and the completion checklist."""

from __future__ import annotations

import itertools

import pytest

from warroom.core.errors import IllegalTransition
from warroom.incidents.states import STATES, TRANSITIONS, check_transition, missing_for_completion

LEGAL = {
    ("active", "stable"),
    ("active", "resolved"),
    ("stable", "active"),
    ("stable", "resolved"),
    ("resolved", "active"),
    ("resolved", "completed"),
}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(STATES, STATES)))
def test_transition_table(src: str, dst: str) -> None:
    if (src, dst) in LEGAL:
        check_transition(src, dst)
        assert dst in TRANSITIONS[src]
    else:
        with pytest.raises(IllegalTransition) as err:
            check_transition(src, dst)
        assert err.value.details["from"] == src


def test_unknown_state() -> None:
    with pytest.raises(IllegalTransition, match="unknown state"):
        check_transition("active", "closed")


def test_completion_missing() -> None:
    req = ["users_impacted", "impacts", "detection_method", "postmortem"]
    assert (
        missing_for_completion(required=req, users_impacted=None, impacts=" ", detection_method=None, postmortem=None)
        == req
    )
    assert missing_for_completion(
        required=req, users_impacted=0, impacts="x", detection_method="monitor", postmortem="# ok\nTODO: root"
    ) == ["postmortem (still has TODO sections)"]
    assert (
        missing_for_completion(
            required=req, users_impacted=10, impacts="x", detection_method="monitor", postmortem="# done"
        )
        == []
    )
