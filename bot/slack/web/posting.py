"""Posting into channels the way Slack really behaves, and telling a user something privately.

- `chat.postMessage` into a channel the bot is not in: public channels are joined
  (`conversations.join`, scope `channels:join`) and the post retried once; private ones cannot be
  joined, so `NotInChannel` tells the caller to ask the user for an invite. Never silence.
- `tell_user`: the response_url when there is one (works without membership), else an ephemeral
  message in the channel, else a direct message.
- `respond_via`: a `respond(...)` for a stored response_url; `ephemeral`: one person, in a channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.redact import redact

log = logging.getLogger(__name__)

MEMBERSHIP_ERRORS = ("not_in_channel", "channel_not_found")
INVITE_HINT = ("I'm not a member of this channel, so I can't post here. Invite me with "
               "`/invite @wanbot` (or use me in a public channel) and try again.")

Respond = Callable[..., Awaitable[Any]]


class NotInChannel(Exception):
    """The bot is not in the channel and cannot join it (private channel, DM, no join scope)."""


def slack_error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "unknown")
    except Exception:  # a response without a JSON body
        return "unknown"


async def join_channel(client: AsyncWebClient, channel_id: str) -> bool:
    """Join a public channel. False when Slack says it cannot be joined."""
    try:
        await client.conversations_join(channel=channel_id)
        log.info("joined channel to post", extra={"channel": channel_id})
        return True
    except SlackApiError as exc:
        log.info("cannot join channel", extra={"channel": channel_id, "error": slack_error(exc)})
        return False


async def with_membership(client: AsyncWebClient, channel_id: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run `call`; on a membership error join the (public) channel and run it once more."""
    try:
        return await call()
    except SlackApiError as exc:
        if slack_error(exc) not in MEMBERSHIP_ERRORS:
            raise
    if not await join_channel(client, channel_id):
        raise NotInChannel(channel_id)
    try:
        return await call()
    except SlackApiError as exc:
        if slack_error(exc) in MEMBERSHIP_ERRORS:
            raise NotInChannel(channel_id) from None
        raise


async def post_message(client: AsyncWebClient, channel_id: str, **kwargs: Any) -> Any:
    return await with_membership(client, channel_id,
                                 lambda: client.chat_postMessage(channel=channel_id, **kwargs))


async def tell_user(client: AsyncWebClient, *, user_id: str | None, channel_id: str | None, text: str,
                    blocks: list[dict] | None = None, respond: Respond | None = None,
                    thread_ts: str | None = None) -> bool:
    """Say something only this user sees. True if some route worked."""
    if respond is not None:
        try:
            answer = await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
            if getattr(answer, "status_code", 200) == 200:
                return True
            log.info("response_url refused", extra={"status": answer.status_code})
        except Exception as exc:  # response_url expired (30 min) or used up (5 times)
            log.info("response_url failed", extra={"error": repr(exc)})
    if user_id and channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks,
                                            thread_ts=thread_ts)
            return True
        except SlackApiError as exc:
            log.info("ephemeral failed", extra={"error": slack_error(exc)})
    if user_id:
        try:
            await client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
            return True
        except SlackApiError as exc:
            log.warning("could not reach the user", extra={"user": user_id, "error": slack_error(exc)})
    return False


def respond_via(url: str | None):
    """A `respond(...)` for a stored response_url (valid 30 minutes, 5 uses)."""
    if not url:
        return None

    async def respond(**kwargs: Any) -> None:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        answer = await AsyncWebhookClient(url).send(**kwargs)
        if answer.status_code != 200:
            raise RuntimeError(f"response_url answered {answer.status_code}")

    return respond


async def ephemeral(client: AsyncWebClient, channel_id: str, user_id: str, text: str, blocks: list | None = None,
                     respond=None) -> None:
    """An ephemeral message to one person; through the response_url when the bot is not in the channel."""
    try:
        await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
        return
    except Exception as exc:
        log.warning("chat.postEphemeral failed", extra={"user_id": user_id, "error": redact(str(exc))[:200]})
    if respond is not None:
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
