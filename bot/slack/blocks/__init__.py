"""Pure Block Kit builders: data in, `(text, blocks)` or a view out; unit-tested without Slack."""
