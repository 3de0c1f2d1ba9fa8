"""The bot's Web API client with one guarantee: no secret leaves in a Slack message.

Every string the bot sends to Slack (texts, blocks, views, ephemeral answers) passes through
`bot.redact.redact` at this single choke point, whatever listener or builder produced it: a key a
user pasted into a prompt is masked on the job card too.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.redact import redact


def scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    return value


class RedactingWebClient(AsyncWebClient):
    async def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict | None = None,
                       data: Any = None, params: dict | None = None, json: dict | None = None,
                       headers: dict | None = None, auth: dict | None = None):
        if isinstance(data, dict):
            data = scrub(data)
        return await super().api_call(api_method, http_verb=http_verb, files=files, data=data,
                                      params=scrub(params), json=scrub(json), headers=headers, auth=auth)


def make_web_client(settings: Settings, **kwargs: Any) -> AsyncWebClient:
    """The Web API client: honours Retry-After on 429, retries 5xx and connection errors, and masks
    secrets in everything it sends."""
    return RedactingWebClient(
        token=settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
        **kwargs,
    )
