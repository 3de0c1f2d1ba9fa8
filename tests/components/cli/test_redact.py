"""Secrets in every shape are masked (issue 14 item 13): URL credentials, Basic auth, `token_sk-...`,
in what `triage` prints, in "Show API request", and in what `check` and `generate` print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.redact import redact
from bot.slack.blocks.messages import api_request_message
from bot.wan.client import GatewayClient
from bot.wan.request import build_request

ROOT = Path(__file__).resolve().parents[3]
BASIC = "d2FudXNlcjpwbGFudGVkLXBhc3MtODg4OA=="   # wanuser:planted-pass-8888


@pytest.mark.parametrize("text, secret", [
    (f"curl -H 'Authorization: Basic {BASIC}' https://gw/v1", BASIC),
    (f'{{"headers": {{"authorization": "Basic {BASIC}"}}}}', BASIC),
    ("base https://wanuser:planted-pass-8888@gw.example.com/v1 refused", "planted-pass-8888"),
    ("proxy http://planted-user-token-77@10.0.0.1:3128", "planted-user-token-77"),
    ("log: token_sk-planted0123456789abcdef used", "planted0123456789abcdef"),
    ("key=sk-planted0123456789abcdef", "planted0123456789abcdef"),
    ("GET https://gw.example.com/v1/tasks?key=planted-query-key-99&x=1", "planted-query-key-99"),
])
def test_every_shape_of_secret_is_masked(text, secret):
    assert secret not in redact(text)


@pytest.mark.parametrize("text", [
    "a basic question about the risk-free task-123456 retry",
    "https://gw.example.com/v1/video/generations/vt_8f3a2c",
    "Idempotency-Key: job-7f3a2c91",
    "email dev@acme.example about it",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_triage_output_masks_basic_auth_url_credentials_and_token_sk(tmp_path):
    log = tmp_path / "ticket.txt"
    log.write_text(
        "customer says: invalid api type: -1 when calling wan2.6-t2v\n"
        f"curl -H 'Authorization: Basic {BASIC}' https://wanuser:planted-pass-8888@gw.example.com"
        "/v1/chat/completions -d '{\"model\":\"wan2.6-t2v\"}'\n"
        "their config: WAN_TOKEN=token_sk-planted0123456789abcdef\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "WANBOT_", "SLACK_"))}
    for args in ([str(log)], [str(log), "--json"]):
        proc = subprocess.run([sys.executable, "-m", "bot", "triage", *args], capture_output=True, cwd=ROOT,
                              env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.decode()
        assert "misrouted_chat_api" in out
        for secret in (BASIC, "planted-pass-8888", "planted0123456789abcdef"):
            assert secret not in out


def test_show_api_request_never_shows_credentials_inside_wan_api_base(make_settings):
    settings = make_settings(wan_api_base="https://wanuser:planted-pass-8888@gw.example.com/proxy",
                             wan_api_key="sk-planted-key-000000")
    client = GatewayClient(settings)
    method, url, headers, body = client.describe_submit(build_request("t2v", {"prompt": "a fox"}), "job-1")
    text, blocks = api_request_message(method, url, headers, body)
    shown = text + repr(blocks)
    assert "planted-pass-8888" not in shown and "wanuser" not in shown and "sk-planted-key" not in shown
    assert "gw.example.com/proxy/v1/video/generations" in shown
