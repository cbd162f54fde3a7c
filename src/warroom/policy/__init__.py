"""Policy: the team's process as a validated YAML file."""

from warroom.policy.loader import PolicyError, load_policy, parse_policy, reference_policy
from warroom.policy.schema import Policy

__all__ = ["Policy", "PolicyError", "load_policy", "parse_policy", "reference_policy"]
