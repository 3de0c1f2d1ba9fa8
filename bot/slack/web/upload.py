"""Slack's external upload flow, done by hand and streamed from disk.

`files_upload_v2` reads the whole file and is known to fail above ~20 MB, so: ask for an upload URL
(`files.getUploadURLExternal` with the exact length), POST the bytes there straight from the file,
then `files.completeUploadExternal` shares it into the channel and thread. The share message can
appear some time later: nothing here waits for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from slack_sdk.web.async_client import AsyncWebClient

CHUNK = 1 << 20
SLACK_FILE_LIMIT = 1_000_000_000  # Slack refuses files over 1 GB


class UploadFailed(Exception):
    """The bytes could not be uploaded (the caller posts a link instead)."""


async def file_chunks(path: Path, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """The file in 1 MB pieces, read off the event loop; never the whole file in memory."""
    with path.open("rb") as handle:
        while data := await asyncio.to_thread(handle.read, chunk):
            yield data


async def upload_bytes(client: AsyncWebClient, http: httpx.AsyncClient, path: Path, *, filename: str) -> str:
    """Steps 1 and 2: get an upload URL and stream the file to it. Returns the file id."""
    size = await asyncio.to_thread(os.path.getsize, path)
    answer = await client.files_getUploadURLExternal(filename=filename, length=size)
    upload_url, file_id = answer["upload_url"], answer["file_id"]
    try:
        response = await http.post(upload_url, content=file_chunks(path),
                                   headers={"Content-Type": "application/octet-stream",
                                            "Content-Length": str(size)})
    except httpx.HTTPError as exc:
        raise UploadFailed(f"the upload to Slack failed ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise UploadFailed(f"Slack refused the upload (HTTP {response.status_code})")
    return file_id


async def complete_upload(client: AsyncWebClient, file_id: str, *, title: str, channel_id: str,
                          thread_ts: str | None) -> None:
    """Step 3: share the uploaded file into the channel (and thread)."""
    await client.files_completeUploadExternal(files=[{"id": file_id, "title": title}],
                                              channel_id=channel_id, thread_ts=thread_ts)
