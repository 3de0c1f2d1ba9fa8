"""The Slack surface: the Bolt app (`app`, `serve`), thin listeners that ack and call one flow,
job and triage flows, pure Block Kit builders, the `/wan` grammar, and Web API helpers."""
