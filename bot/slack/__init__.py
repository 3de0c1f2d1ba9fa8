"""The Slack surface: `/wan` grammar, Block Kit builders and payload parsers (pure), and later the app."""
