"""What support pastes or attaches for triage in the scenarios, and how a report is read back."""

from __future__ import annotations

import json
import time

from bot.slack.blocks.triage import SHORTCUT_ID
from tests.support.world import SUPPORT, SUPPORT_CHANNEL

MISROUTED = (
    "Hi, my video failed but I was charged!\n"
    "curl https://gw.example.com/v1/chat/completions -H \"Authorization: Bearer sk-live9f8e7d6c5b4a3f2e1d0c\" "
    "-d '{\"model\": \"wan2.6-t2v\", \"messages\": [{\"role\": \"user\", \"content\": \"a cat\"}]}'\n"
    "{\"error\":{\"message\":\"invalid api type: -1\",\"type\":\"new_api_error\"}}\n"
    "my slack token is xoxb-1234567890-0987654321-AbCdEfGhIjKl, key sk-abcdef1234567890ABCDEF"
)
SECRETS = ["sk-live9f8e7d6c5b4a3f2e1d0c", "xoxb-1234567890-0987654321-AbCdEfGhIjKl", "sk-abcdef1234567890ABCDEF",
           "9f8e7d6c5b4a", "AbCdEfGhIjKl", "abcdef1234567890"]


def refund_due_jsonl(task_id: str = "task_slack42Z") -> bytes:
    now = int(time.time()) - 3600
    rows = [
        {"id": 7001, "created_at": now, "type": 2, "content": "", "username": "acme", "token_name": "prod",
         "model_name": "wan2.6-t2v", "quota": 1000000, "prompt_tokens": 0, "completion_tokens": 0,
         "other": json.dumps({"is_task": True, "request_path": "/v1/videos", "task_id": task_id})},
        {"id": 7002, "created_at": now, "type": 2, "model_name": "wan2.6-t2v", "quota": 1000000,
         "prompt_tokens": 0, "completion_tokens": 0,
         "other": json.dumps({"is_task": True, "request_path": "/v1/videos", "task_id": "task_other99Y"})},
        {"id": 930, "task_id": task_id, "platform": "wan", "quota": 1000000, "action": "textGenerate",
         "status": "FAILURE", "fail_reason": "upstream timeout", "submit_time": now, "finish_time": now + 60,
         "progress": "100%", "properties": {"origin_model_name": "wan2.6-t2v"}},
        {"id": 931, "task_id": "task_other99Y", "platform": "wan", "quota": 1000000, "status": "SUCCESS",
         "submit_time": now, "finish_time": now + 60, "progress": "100%"},
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def report_text(message: dict) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


async def shortcut_report(world, message: dict, user: str = SUPPORT) -> dict:
    reply = await world.sender.message_shortcut(SHORTCUT_ID, message, SUPPORT_CHANNEL, user_id=user)
    assert reply.status == 200 and reply.elapsed < 3
    entry = await world.standin.wait_until(lambda: world.standin.ephemerals, timeout=15)
    assert entry[0]["user"] == user and entry[0]["channel"] == SUPPORT_CHANNEL
    return entry[0]["message"]
