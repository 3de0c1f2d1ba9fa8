"""The stand-in's views.* methods (open, push, update), trigger ids, and answers to view submissions.
"""

from __future__ import annotations

import time
from typing import Any

from bot.devslack.base import StandInBase
from bot.devslack.state import SlackError


class ViewsMethods(StandInBase):
    """Modals as Slack keeps them: a stack per root view, hashes, external ids, optional trigger expiry."""

    def new_trigger_id(self) -> str:
        trigger = f"{int(time.time())}.{self._ids.make('')}.{self._ids.make('')}".lower()
        self._triggers[trigger] = time.monotonic()
        return trigger

    def _check_trigger(self, p: dict[str, Any]) -> None:
        trigger = p.get("trigger_id") or p.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments")
        if self.check_triggers:
            issued = self._triggers.pop(str(trigger), None)
            if issued is None:
                raise SlackError("invalid_trigger_id")
            if time.monotonic() - issued > 3.0:
                raise SlackError("expired_trigger_id")

    def _view_payload(self, p: dict[str, Any]) -> dict[str, Any]:
        view = p.get("view")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if not isinstance(view.get("blocks", []), list):
            raise SlackError("invalid_blocks")
        return view

    def _store_view(self, payload: dict[str, Any], view_id: str, root_id: str, previous: str | None) -> dict[str, Any]:
        view = {
            "id": view_id, "team_id": self.team_id, "type": payload["type"],
            "blocks": payload.get("blocks", []), "private_metadata": payload.get("private_metadata", ""),
            "callback_id": payload.get("callback_id", ""), "state": {"values": {}},
            "hash": self._ids.make("h").lower(), "title": payload.get("title"), "clear_on_close": False,
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "close": payload.get("close"), "submit": payload.get("submit"),
            "previous_view_id": previous, "root_view_id": root_id, "app_id": self.app_id,
            "external_id": payload.get("external_id", ""), "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = view
        return view

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_trigger(p)
        payload = self._view_payload(p)
        external_id = payload.get("external_id")
        if external_id and any(v["external_id"] == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        view_id = self._ids.make("V")
        view = self._store_view(payload, view_id, view_id, None)
        self._emit("view_opened", view=view)
        return {"view": view}

    def view_answered(self, view_id: str, answer: Any) -> None:
        """Apply the bot's answer to a view_submission as Slack does: `response_action` "update"
        replaces the view, "push" stacks a new one, "errors" keeps it open, anything else closes it."""
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action == "errors":
            return
        if action in ("update", "push") and isinstance(answer.get("view"), dict):
            old = self.views.get(view_id)
            if action == "update" and old is not None:
                view = self._store_view(answer["view"], view_id, old["root_view_id"], old["previous_view_id"])
                self._emit("view_updated", view=view)
            else:
                new_id = self._ids.make("V")
                root = old["root_view_id"] if old else new_id
                view = self._store_view(answer["view"], new_id, root, view_id if old else None)
                self._emit("view_pushed", view=view)
            return
        self.closed_views.add(view_id)
        self._emit("view_closed", view_id=view_id)

    def _views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_trigger(p)
        payload = self._view_payload(p)
        parent = self.last_view()
        view_id = self._ids.make("V")
        root = parent["root_view_id"] if parent else view_id
        view = self._store_view(payload, view_id, root, parent["id"] if parent else None)
        self._emit("view_pushed", view=view)
        return {"view": view}

    def _views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        payload = self._view_payload(p)
        if p.get("view_id"):
            old = self.views.get(str(p["view_id"]))
        elif p.get("external_id"):
            old = next((v for v in self.views.values() if v["external_id"] == p["external_id"]), None)
        else:
            raise SlackError("invalid_arguments")
        if old is None:
            raise SlackError("not_found")
        if p.get("hash") and p["hash"] != old["hash"]:
            raise SlackError("hash_conflict")
        view = self._store_view(payload, old["id"], old["root_view_id"], old["previous_view_id"])
        if not view["external_id"]:
            view["external_id"] = old["external_id"]
        self._emit("view_updated", view=view)
        return {"view": view}
