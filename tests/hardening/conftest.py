# The real bot over HTTP with the simulator and the Slack stand-in (shared with the Slack app tests).
from tests.slack_app.conftest import world  # noqa: F401
