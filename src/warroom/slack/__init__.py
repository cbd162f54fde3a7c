"""Slack as an entry point (like api/, web/, cli/): one signed request URL for commands, buttons,
modals and events; it verifies, parses, deduplicates, maps the user and dispatches to the domains'
`slack.py` adapters, which run their use cases through the one unit of work (channel `slack`)."""
