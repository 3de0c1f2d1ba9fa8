"""The triage desk: who may use triage (support staff) and the replies waiting for their
"Post reply in thread" button, kept in memory and, with a triage record, in the database so the
button still works after a restart."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.jobs.store import JobStore
from bot.redact import redact
from bot.slack.triage.staff import SupportStaff

log = logging.getLogger(__name__)

MAX_PENDING_REPLIES = 1000


@dataclass
class PendingReply:
    channel_id: str
    thread_ts: str
    text: str
    staff_user: str
    record_id: int | None
    texts: dict[str, str] = field(default_factory=dict)  # the reply in each language, for the modal's choice
    language: str | None = None


class TriageDesk:
    """Per-app state: the permission check and the replies waiting for "Post reply"."""

    def __init__(self, store: JobStore, staff: SupportStaff):
        self.store = store
        self.staff = staff
        self.replies: OrderedDict[str, PendingReply] = OrderedDict()

    async def keep_reply(self, reply: PendingReply) -> str:
        """Remember a reply for its "Post reply" button; with a triage record, in the database too,
        so the button still works after a restart (ref `t<record id>`)."""
        ref = secrets.token_urlsafe(9)
        if reply.record_id is not None:
            try:
                await self.store.keep_triage_reply(
                    reply.record_id, channel_id=reply.channel_id, thread_ts=reply.thread_ts,
                    reply=redact(reply.text))
                ref = f"t{reply.record_id}"
            except Exception:
                log.exception("could not store the triage reply", extra={"record_id": reply.record_id})
        self.replies[ref] = reply
        while len(self.replies) > MAX_PENDING_REPLIES:
            self.replies.popitem(last=False)
        return ref

    async def find_reply(self, ref: str | None) -> PendingReply | None:
        if not ref:
            return None
        if ref in self.replies:
            return self.replies[ref]
        if ref.startswith("t") and ref[1:].isdigit():
            record = await self.store.triage_record(int(ref[1:]))
            if record and record.get("reply") and record.get("reply_channel"):
                return PendingReply(record["reply_channel"], record["reply_thread_ts"], record["reply"],
                                    record["staff_user"] or "", record["id"])
        return None

    async def check(self, user_id: str | None, action: str) -> bool:
        return await self.staff.check(user_id, action)
