"""Commands contributed by other domains register by being imported here."""

from warroom import cli_deploys, cli_reports  # noqa: F401  (oob, report)
