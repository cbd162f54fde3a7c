"""The bundled policy is process.md; bad policy files fail with the file and the key path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import cli
from warroom.policy import PolicyError, load_policy, parse_policy, reference_policy
from warroom.policy.durations import format_duration, parse_duration
from warroom.policy.loader import reference_policy_text
from warroom.triage.rules import must_declare, priority_from_matrix, tier_for

# process.md section 2, cell by cell: (tier, users/hour) -> priority.
MATRIX = {
    (1, 5000): "P1",
    (1, 1001): "P1",
    (1, 1000): "P2",
    (1, 101): "P2",
    (1, 100): "P3",
    (1, 1): "P3",
    (1, 0): "P3",
    (2, 1001): "P2",
    (2, 1000): "P3",
    (2, 101): "P3",
    (2, 100): "P4",
    (2, 1): "P4",
    (2, 0): "P4",
    (3, 1001): "P3",
    (3, 1000): "P4",
    (3, 101): "P4",
    (3, 100): "P4",
    (3, 1): "P4",
    (3, 0): "P4",
}


@pytest.mark.parametrize(("tier", "users", "expected"), [(t, u, p) for (t, u), p in MATRIX.items()])
def test_reference_matrix_every_cell(tier: int, users: int, expected: str) -> None:
    decision = priority_from_matrix(reference_policy(), tier, users)
    assert decision.value == expected
    assert decision.rule.startswith(f"matrix-t{tier}")
    assert str(users) in decision.reason


@pytest.mark.parametrize(
    ("env", "tier"),
    [("production", 1), ("prod", 1), ("eks-prod", 1), ("staging", 2), ("dev", 3), ("sandbox", 3), (None, 3)],
)
def test_reference_tiers(env: str | None, tier: int) -> None:
    assert tier_for(reference_policy(), env).value == str(tier)


def test_reference_policy_encodes_process() -> None:
    p = reference_policy()
    assert must_declare(p, "P1") and not must_declare(p, "P2")
    assert p.unknown_impact.escalation_window == timedelta(minutes=15)
    assert p.unknown_impact.escalate_tiers == [1] and p.unknown_impact.escalate_to == "P1"
    assert [s.key for s in p.severities] == ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "SEV-5"]
    assert all(p.cadence_for(prio) == timedelta(minutes=30) for prio in ("P1", "P2", "P3", "P4"))
    assert p.channels["support"].channel == "#identity-support"
    assert p.title_template == "{service} is experiencing degraded service"
    assert {s.key for s in p.services} == {"usip", "ssoe", "sis", "tou", "csp", "mpi"}
    assert {s.key for s in p.services if not s.owned} == {"csp", "mpi"}
    assert p.completion.commander_only
    assert set(p.completion.required_fields) == {"users_impacted", "impacts", "detection_method", "postmortem"}
    assert p.roles == [
        "commander",
        "technical_lead",
        "oncall_responder",
        "security_analyst",
        "platform_support_coordinator",
        "stakeholder_liaison",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("15m", 900), ("2s", 2), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "30", "m30", "30x", "-5m", "1h 3q"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(timedelta(minutes=65)) == "1h 05m"
    assert format_duration(timedelta(seconds=42)) == "42s"


def _mutate(old: str, new: str) -> str:
    text = reference_policy_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  default: 30m", "  default: thirty", "cadence.default: expected a duration"),
        (
            '    runbook: "https://example.invalid/runbooks/sis"',
            '    runbok: "x"',
            "services[2].runbok: Extra inputs are not permitted",
        ),
        ("    1: [P1, P2, P3]", "    1: [P1, P2]", "tier 1 has 2 priorities but there are 3"),
        ("    1: [P1, P2, P3]", "    1: [P1, P2, P9]", "priority.tiers[1][2]: Input should be"),
        ("  staging: 2", "  staging: 7", "environments.staging: tier 7 has no row"),
        ("  declared: [support]", "  declared: [nowhere]", "routes.declared: channel 'nowhere' is not defined"),
        ("  - key: SEV-5", "  - key: SEVERE", "severities[4].key: severity keys look like"),
        (
            'title_template: "{service} is experiencing degraded service"',
            'title_template: "{svc} down"',
            "title_template: unknown placeholder",
        ),
        ("team: identity", "team: [a, b]", "team: Input should be a valid string"),
        (
            "  escalate_after_missed: 2",
            "  escalate_after_missed: 0",
            "cadence.escalate_after_missed: Input should be greater than or equal to 1",
        ),
        ("  clock_skew: 5m", "  clock_skew: 2h", "triage: clock_skew: 2h 00m is not a sane clock skew"),
        ("  flap_window: 5m", "  flap_window: 5h", "flap_window: longer than grouping_window"),
        ("  flap_window: 5m", "  flap_window: -5m", "triage.flap_window: expected a duration"),
    ],
)
def test_bad_policy_names_the_key(old: str, new: str, expected: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(_mutate(old, new), source="team.yaml")
    message = str(err.value)
    assert message.startswith("team.yaml: invalid policy")
    assert expected in message, message


def test_bad_yaml_reports_line() -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy("team: x\n  bad: [unclosed\n", source="p.yaml")
    assert "line" in str(err.value) and "not valid YAML" in str(err.value)


def test_missing_file() -> None:
    with pytest.raises(PolicyError, match="cannot read file"):
        load_policy("/nonexistent/policy.yaml")


def test_env_secrets_expand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", "https://hooks.example.invalid/T1")
    text = _mutate("channels:\n", "channels:\n  hook:\n    type: slack_webhook\n    url: ${HOOK_URL}\n")
    policy = parse_policy(text)
    assert policy.channels["hook"].url == "https://hooks.example.invalid/T1"
    assert policy.public_dict()["channels"]["hook"]["url"] == "***"


def test_policy_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(reference_policy_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(_mutate("  default: 30m", "  default: soon"))
    ok = cli.warroom("policy", "check", str(good), env={})
    assert ok.returncode == 0, ok.stderr
    assert "ok: policy for team 'identity'" in ok.stdout
    res = cli.warroom("policy", "check", str(bad), env={})
    assert res.returncode == 2
    assert str(bad) in res.stderr and "cadence.default" in res.stderr


def test_policy_check_warns_about_grouping_without_environments(tmp_path: Path) -> None:
    """No environment label means every alert is default_tier: staging and production alerts group."""
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        _mutate("  environment_keys: [env, environment]", "  environment_keys: []").replace(
            "  flap_window: 5m", "  flap_window: 0s"
        )
    )
    res = cli.warroom("policy", "check", "--strict", str(loose), env={})
    assert res.returncode == 1, res.stdout
    assert "triage.environment_keys is empty" in res.stderr and "triage.flap_window is 0" in res.stderr
