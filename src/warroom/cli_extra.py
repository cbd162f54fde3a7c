"""Commands contributed by other domains register by being imported here."""
import warroom.cli_notifications  # noqa: F401,E402
