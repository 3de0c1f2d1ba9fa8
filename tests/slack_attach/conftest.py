"""The real bot over HTTP with the Slack stand-in and the gateway simulator (the slack_app world)."""

from tests.slack_app.conftest import world  # noqa: F401
