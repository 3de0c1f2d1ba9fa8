"""The "Post reply in thread" button and its edit modal: staff check, then the reply (edited or as
it stands) goes into the customer's thread, and the staff member gets a link to it."""

from __future__ import annotations

import logging

from bot.redact import redact
from bot.slack.blocks.triage import posted_message, reply_modal
from bot.slack.services import Services
from bot.slack.triage.desk import PendingReply
from bot.slack.triage.staff import REFUSAL
from bot.slack.web.posting import ephemeral

log = logging.getLogger(__name__)


async def open_reply(services: Services, *, ref: str | None, user_id: str, channel_id: str | None,
                     trigger_id: str, respond) -> None:
    """The button: open the edit modal; without one (an expired trigger) post the reply as it stands."""
    triage_desk = services.triage
    if not await triage_desk.check(user_id, "post_reply"):
        await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        return
    reply = await triage_desk.find_reply(ref)
    if reply is None:
        await respond(text="This reply is no longer available (the bot restarted). Run triage again.",
                      response_type="ephemeral", replace_original=False)
        return
    try:
        await services.client.views_open(trigger_id=trigger_id, view=reply_modal(
            ref or "", reply.text, language=reply.language, languages=tuple(reply.texts)))
    except Exception as exc:  # no modal (expired trigger): post the reply as it stands
        log.warning("reply modal did not open; posting directly",
                    extra={"user_id": user_id, "error": redact(str(exc))[:200]})
        await post_reply(services, reply, reply.text, user_id, channel_id or reply.channel_id, respond)


async def switch_language(services: Services, *, ref: str | None, language: str, view_id: str,
                          view_hash: str | None, user_id: str) -> None:
    """The modal's language choice: the same reply in the other language, in place of the draft."""
    if not await services.triage.check(user_id, "post_reply"):
        return
    reply = await services.triage.find_reply(ref)
    if reply is None or language not in reply.texts:
        return
    view = reply_modal(ref or "", reply.texts[language], language=language, languages=tuple(reply.texts),
                       switched=True)
    try:
        await services.client.views_update(view_id=view_id, hash=view_hash, view=view)
    except Exception as exc:  # a newer edit won the race (hash_conflict): keep what the staff member has
        log.info("reply language not switched", extra={"user_id": user_id, "error": redact(str(exc))[:200]})


async def submit_reply(services: Services, *, ref: str | None, text: str, user_id: str) -> None:
    """The modal was submitted (and acknowledged): post the edited reply."""
    triage_desk = services.triage
    if not await triage_desk.check(user_id, "post_reply"):
        return
    reply = await triage_desk.find_reply(ref)
    if reply is None:
        return
    await post_reply(services, reply, text, user_id, reply.channel_id, None)


async def post_reply(services: Services, reply: PendingReply, text: str, user_id: str, channel_id: str,
                      respond) -> None:
    client = services.client
    try:
        await client.chat_postMessage(channel=reply.channel_id, thread_ts=reply.thread_ts, text=redact(text))
    except Exception as exc:
        log.warning("posting the triage reply failed", extra={"user_id": user_id, "error": redact(str(exc))[:200]})
        await ephemeral(client, channel_id, user_id, "Sorry, I could not post the reply in that thread "
                         "(is the bot in the channel?).", respond=respond)
        return
    permalink = None
    try:
        permalink = (await client.chat_getPermalink(channel=reply.channel_id, message_ts=reply.thread_ts))["permalink"]
    except Exception as exc:  # the link is a nicety
        log.info("no permalink for the triage thread", extra={"error": redact(str(exc))[:200]})
    log.info("triage reply posted", extra={"user_id": user_id, "record_id": reply.record_id})
    fallback, blocks = posted_message(reply.channel_id, reply.thread_ts, permalink)
    await ephemeral(client, channel_id, user_id, fallback, blocks, respond=respond)
