"""Use cases called by the CLI and the API (one module per area); no printing, no HTTP here."""
