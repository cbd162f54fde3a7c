"""Commands contributed by other domains register by being imported here."""
from warroom import cli_ingest  # noqa: F401  (warroom simulate)
import warroom.cli_notifications  # noqa: F401,E402
