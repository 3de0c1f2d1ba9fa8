"""Local Slack stand-in for tests and `python -m bot dev`.

- `SlackStandIn`: the Web API methods the bot calls, served on 127.0.0.1 (point SLACK_API_URL at
  `standin.api_url`), with recorded calls, fault injection and live events.
- `SlackSender`: signed slash commands, interactions and events sent to the bot, as Slack sends them.
"""

from bot.devslack.client import Reply, SlackSender, fill_view, sign
from bot.devslack.server import SlackStandIn
from bot.devslack.state import Call, Event, Fault

__all__ = ["Call", "Event", "Fault", "Reply", "SlackSender", "SlackStandIn", "fill_view", "sign"]
