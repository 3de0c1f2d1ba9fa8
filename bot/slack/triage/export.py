"""The "Refunds due" CSV of `/wan spend team`: an admin's button posts a short message in the
channel and the CSV (task, user, model, amount, evidence row ids) as a file in its thread."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import httpx
from slack_sdk.errors import SlackApiError

from bot.dollars import money
from bot.redact import redact
from bot.slack.services import Services
from bot.slack.web.posting import NotInChannel, with_membership
from bot.slack.web.upload import UploadFailed, complete_upload, upload_bytes
from bot.triage.export import refund_rows, refunds_csv

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30 * 86400  # the same 30 days as the "Refunds due" line
MAX_RECORDS = 5000


async def post_refunds_csv(services: Services, *, user_id: str, channel_id: str | None, respond) -> None:
    if not services.is_admin(user_id):
        await respond(text="The team's refunds are for admins (WANBOT_ADMIN_USERS).", response_type="ephemeral",
                      replace_original=False)
        return
    if not channel_id:
        return
    now = time.time()
    records = await services.store.triage_records(verdict="refund_due", limit=MAX_RECORDS)
    rows = refund_rows(records, since=now - WINDOW_SECONDS)
    if not rows:
        await respond(text="No refunds due from support triage in the last 30 days.", response_type="ephemeral",
                      replace_original=False)
        return
    total = sum(float(r["amount_usd"] or 0) for r in rows)
    client = services.client
    text = (f"*Refunds due* (support triage, last 30 days): {len(rows)} task(s) · {money(total)}. "
            f"The CSV is in the thread (asked by <@{user_id}>).")
    stamp = time.strftime("%Y%m%d", time.gmtime(now))
    try:
        posted = await with_membership(client, channel_id, lambda: client.chat_postMessage(
            channel=channel_id, text=text))
        with tempfile.TemporaryDirectory(prefix="wanbot-refunds-") as folder:
            path = Path(folder) / f"refunds-due-{stamp}.csv"
            path.write_text(refunds_csv(rows), encoding="utf-8")
            async with httpx.AsyncClient(timeout=60) as http:
                file_id = await upload_bytes(client, http, path, filename=path.name)
            await complete_upload(client, file_id, title=f"Refunds due {stamp} (CSV)", channel_id=channel_id,
                                  thread_ts=posted["ts"])
    except (SlackApiError, UploadFailed, NotInChannel, httpx.HTTPError) as exc:
        log.warning("refunds CSV not posted", extra={"user_id": user_id, "error": redact(str(exc))[:200]})
        await respond(text="Sorry, I could not post the CSV here (is the bot in this channel?).",
                      response_type="ephemeral", replace_original=False)
        return
    log.info("refunds CSV posted", extra={"user_id": user_id, "rows": len(rows)})
