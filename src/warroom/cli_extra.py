"""Commands contributed by other domains register by being imported here."""
