"""Who is in a channel, as Slack says (`conversations.members`, paged): the question behind "may
this person see that job / that file". Any failure to find out (a private channel the bot is not
in, a missing scope, an outage) answers no: seeing is never granted by an error."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.web.posting import slack_error

log = logging.getLogger(__name__)

PAGE = 200  # Slack recommends at most 200 a page (https://api.slack.com/methods/conversations.members)
MAX_PAGES = 50  # 10,000 members; a bigger channel is read no further (and answers no)


async def is_member(client: AsyncWebClient, channel_id: str | None, user_id: str | None) -> bool:
    if not channel_id or not user_id:
        return False
    cursor = None
    try:
        for _ in range(MAX_PAGES):
            answer = await client.conversations_members(channel=channel_id, limit=PAGE, cursor=cursor)
            if user_id in (answer.get("members") or []):
                return True
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError as exc:
        log.info("channel members unknown", extra={"channel": channel_id, "error": slack_error(exc)})
    return False
