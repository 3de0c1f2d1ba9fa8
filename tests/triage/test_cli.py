"""The CLI contract through a real subprocess: --json shape, exit codes, stdin."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import CORPUS, SECRET_RE

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "WANBOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "triage", *args], input=stdin, capture_output=True, cwd=ROOT, env=env,
        timeout=60,
    )


def test_json_contract():
    proc = run_cli(str(CORPUS / "refund_due_mixed_document.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == "refund_due"
    assert isinstance(out["evidence"], list) and out["evidence"]
    assert out["amount_usd"] == 3.2
    assert out["task_ids"] == ["task_9Fh3kQ2LmN"]
    assert out["model"] == "wan2.6-t2v"
    assert isinstance(out["reply"], str) and "3.20" in out["reply"]


def test_readable_report_masks_secrets():
    proc = run_cli(str(CORPUS / "secrets_everywhere.txt"))
    assert proc.returncode == 0
    text = proc.stdout.decode()
    assert "Verdict:    misrouted_chat_api" in text and "Reply (en):" in text
    assert not SECRET_RE.search(text)
    assert "xoxb-1234567890" not in text


def test_stdin_dash():
    data = (CORPUS / "misrouted_apitype_zh.txt").read_bytes()
    proc = run_cli("-", "--json", stdin=data)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == "misrouted_chat_api" and out["language"] == "zh"


def test_task_filter_on_the_command_line():
    proc = run_cli(str(CORPUS / "refund_due_filtered.jsonl"), "--task", "task_target77Q", "--json")
    out = json.loads(proc.stdout)
    assert (out["verdict"], out["amount_usd"], out["task_ids"]) == ("refund_due", 2.0, ["task_target77Q"])


def test_any_verdict_exits_zero_even_needs_more_info():
    proc = run_cli(str(CORPUS / "needs_info_binary.bin"), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["verdict"] == "needs_more_info"


def test_missing_file_and_directory_exit_2_with_one_line(tmp_path):
    for target in (tmp_path / "nope.log", tmp_path):
        proc = run_cli(str(target), "--json")
        assert proc.returncode == 2
        assert proc.stdout == b""
        assert len(proc.stderr.decode().strip().splitlines()) == 1
