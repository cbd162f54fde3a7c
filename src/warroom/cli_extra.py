"""Commands contributed by other domains register by being imported here."""

from warroom import cli_deploys, cli_ingest, cli_notifications, cli_reports  # noqa: F401
