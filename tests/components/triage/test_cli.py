"""The CLI contract through a real subprocess: --json shape, exit codes, stdin."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import CORPUS, SECRET_RE

ROOT = Path(__file__).resolve().parents[3]


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


def test_lang_overrides_the_customers_language_and_the_setting_applies_without_prose():
    zh_case = str(CORPUS / "c2_zh_status_slack.txt")
    assert json.loads(run_cli(zh_case, "--json").stdout)["language"] == "zh"
    out = json.loads(run_cli(zh_case, "--json", "--lang", "en").stdout)
    assert out["language"] == "en" and "Thank you" in out["reply"]
    no_prose = str(CORPUS / "c4_no_prose.json")
    assert json.loads(run_cli(no_prose, "--json").stdout)["language"] == "en"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAN_", "WANBOT_", "SLACK_"))}
    proc = subprocess.run([sys.executable, "-m", "bot", "triage", no_prose, "--json"], capture_output=True, cwd=ROOT,
                          env={**env, "WANBOT_TRIAGE_LANGUAGE": "ZH"}, timeout=60)
    out = json.loads(proc.stdout)
    assert out["language"] == "zh" and "退款" in out["reply"]


def test_several_tasks_json_has_a_tasks_list_and_the_text_a_table():
    out = json.loads(run_cli(str(CORPUS / "c8_three_tasks.json"), "--json").stdout)
    assert {t["task_id"]: t["due_usd"] for t in out["tasks"]} == {
        "task_ManyA000000000000000000000000008": 3.2, "task_ManyB000000000000000000000000008": 0.0,
        "task_ManyC000000000000000000000000008": 0.0}
    assert set(out["tasks"][0]) == {"task_id", "model", "charged_usd", "state", "refunded_usd", "due_usd", "verdict"}
    text = run_cli(str(CORPUS / "c8_three_tasks.json")).stdout.decode()
    assert "Per task:" in text and "total due: $3.20" in text and "kling-v2-master" in text
