"""The stand-in's files: the external upload flow (getUploadURLExternal, the upload URL,
completeUploadExternal with its share message), files.info, url_private downloads, and files a person shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mimetypes
import time
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bot.devslack.base import StandInBase
from bot.devslack.state import Call, SlackError

LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


class _Sink:
    """Writes an upload to disk while counting bytes and hashing them (never the whole body in memory)."""

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._file = path.open("wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)
        self.sha256.update(chunk)

    def close(self) -> None:
        self._file.close()


class FilesMethods(StandInBase):
    """Files on disk under upload_dir, never whole in memory; shares recorded as Slack records them."""

    def add_file(
        self, name: str, data: bytes, mimetype: str = "application/octet-stream", channel: str | None = None,
        user: str = "U0HUMAN", title: str | None = None,
    ) -> dict[str, Any]:
        """A file a person shared (e.g. an image for i2v); posted into `channel` when given."""
        file_id = self._ids.make("F")
        path = self._file_path(file_id, name)
        path.write_bytes(data)
        file = self._file_dict(file_id, name, title or name, mimetype, len(data), user)
        file["_path"] = str(path)
        file["_sha256"] = hashlib.sha256(data).hexdigest()
        self.files[file_id] = file
        if channel is not None:
            ts = self._ids.ts()
            self._share(file, channel, ts, None)
            message = {"type": "message", "subtype": "file_share", "ts": ts, "user": user,
                       "text": "", "files": [self.public_file(file)], "upload": True}
            self._messages.setdefault(channel, []).append(message)
        return self.public_file(file)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.get("_state") != "pending":
            return web.Response(status=404, text="not found")
        if (fault := self._take_fault("upload")) is not None:
            await request.release()
            self._calls.append(Call("upload", {"file_id": file["id"]}, time.time(),
                                    {"ok": False, "error": fault.error}, fault.status))
            return web.Response(status=fault.status, text=fault.error)
        sink = _Sink(self._file_path(file["id"], file["name"]))
        try:
            if request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if isinstance(part, BodyPartReader) and (part.filename or part.name in ("file", "filename")):
                        while chunk := await part.read_chunk(256 * 1024):
                            sink.write(chunk)
                        break
            else:
                async for chunk in request.content.iter_chunked(256 * 1024):
                    sink.write(chunk)
        finally:
            sink.close()
        file["_path"] = str(sink.path)
        file["_sha256"] = sink.sha256.hexdigest()
        file["_received"] = sink.size
        record = {"file_id": file["id"], "bytes": sink.size, "sha256": file["_sha256"]}
        if sink.size != file["_length"]:
            file["_state"] = "failed"
            self._calls.append(Call("upload", record, time.time(), {"ok": False, "error": "length_mismatch"}, 400))
            return web.Response(status=400, text=f"length mismatch: announced {file['_length']}, got {sink.size}")
        file["_state"] = "uploaded"
        file["size"] = sink.size
        self._calls.append(Call("upload", record, time.time(), {"ok": True}, 200))
        return web.Response(text=f"OK - {sink.size}")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if request.headers.get("Authorization", "") != f"Bearer {self.bot_token}":
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if file is None or "_path" not in file or file.get("_state") in ("pending", "failed"):
            return web.Response(status=404, text="file not found")
        if (fault := self._take_fault("download")) is not None:
            self._calls.append(Call("download", {"file_id": file["id"]}, time.time(),
                                    {"ok": False, "error": fault.error}, fault.status))
            return web.Response(status=fault.status, text=fault.error)
        self._calls.append(Call("download", {"file_id": file["id"]}, time.time(), {"ok": True}, 200))
        return web.FileResponse(file["_path"], headers={"Content-Type": file["mimetype"]})

    def _file_path(self, file_id: str, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "file"
        return self.upload_dir / f"{file_id}-{safe}"

    def _file_dict(self, file_id: str, name: str, title: str, mimetype: str, size: int, user: str) -> dict[str, Any]:
        url = f"{self.base_url}files-pri/{file_id}/{name}"
        return {
            "id": file_id, "created": int(time.time()), "timestamp": int(time.time()), "name": name,
            "title": title, "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "",
            "user": user, "size": size, "mode": "hosted", "is_external": False, "is_public": False,
            "url_private": url, "url_private_download": url + "?download=1",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{name}",
            "channels": [], "groups": [], "ims": [], "shares": {},
        }

    def _files_get_upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        filename = p.get("filename")
        try:
            length = int(p.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length < 1:
            raise SlackError("invalid_arguments")
        file_id = self._ids.make("F")
        mimetype = _guess_mimetype(str(filename))
        file = self._file_dict(file_id, str(filename), str(filename), mimetype, length, self.bot_user_id)
        file["_state"] = "pending"
        file["_length"] = length
        if p.get("alt_txt"):
            file["alt_txt"] = p["alt_txt"]
        self.files[file_id] = file
        return {"upload_url": f"{self.base_url}upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = p.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files = []
        for entry in entries:
            file = self.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if file is None or file.get("_state") != "uploaded":
                raise SlackError("file_not_found")
            files.append((file, entry))
        channel_ids = [str(p["channel_id"])] if p.get("channel_id") else []
        if p.get("channels"):
            channel_ids += [c.strip() for c in str(p["channels"]).split(",") if c.strip()]
        channels = [self._channel(c) for c in channel_ids]
        for channel in channels:
            if channel["is_archived"]:
                raise SlackError("is_archived")
            if not channel["is_member"]:
                raise SlackError("not_in_channel")
        for file, entry in files:
            file["_state"] = "complete"
            if entry.get("title"):
                file["title"] = str(entry["title"])
        public = [self.public_file(f) for f, _ in files]
        for channel in channels:
            ts = self._ids.ts()
            thread_ts = str(p["thread_ts"]) if p.get("thread_ts") else None
            message = self._bot_message({"text": p.get("initial_comment") or "", "thread_ts": thread_ts}, ts)
            if p.get("blocks") and not p.get("initial_comment"):
                message["blocks"] = p["blocks"]
            message.update(subtype="file_share", upload=True)
            if self.share_delay > 0:
                task = asyncio.get_running_loop().create_task(
                    self._share_later(channel["id"], message, [f for f, _ in files]))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:
                self._share_now(channel["id"], message, [f for f, _ in files])
        return {"files": [{"id": f["id"], "title": f["title"]} for f in public]}

    def land_shares(self) -> None:
        """Every share still delayed lands now, and later ones at once: a test that has seen what had
        to happen before the shares landed need not wait out the rest of `share_delay`."""
        self._land_shares.set()

    async def _share_later(self, channel_id: str, message: dict[str, Any], files: list[dict[str, Any]]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._land_shares.wait(), self.share_delay)
        message["ts"] = self._ids.ts()
        self._share_now(channel_id, message, files)

    def _share_now(self, channel_id: str, message: dict[str, Any], files: list[dict[str, Any]]) -> None:
        for file in files:
            self._share(file, channel_id, message["ts"], message.get("thread_ts"))
        message["files"] = [self.public_file(f) for f in files]
        self._add_message(channel_id, message)
        self._emit("file_shared", channel_id, message["ts"], message.get("thread_ts"), message=message,
                   files=message["files"])

    def _share(self, file: dict[str, Any], channel_id: str, ts: str, thread_ts: str | None) -> None:
        channel = self.channels[channel_id]
        kind = "private" if channel["is_private"] else "public"
        share = {"ts": ts, "channel_name": channel["name"], "team_id": self.team_id}
        if thread_ts:
            share["thread_ts"] = thread_ts
        file["shares"].setdefault(kind, {}).setdefault(channel_id, []).append(share)
        if kind == "public":
            file["is_public"] = True
        listing = "ims" if channel["is_im"] else "groups" if channel["is_private"] else "channels"
        if channel_id not in file[listing]:
            file[listing].append(channel_id)

    def _files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(p.get("file") or ""))
        if file is None or file.get("_state") in ("pending", "failed"):
            raise SlackError("file_not_found")
        return {"file": self.public_file(file)}


def _guess_mimetype(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
