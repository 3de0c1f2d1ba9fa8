"""The upstream: Wan 2.6 request model, wire formats, task model and the HTTP client. No Slack here."""
