"""What an admin imports and a deployer builds: the Slack manifest and the Dockerfile."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# installed into the virtual environment by the test extras, which need not be on PATH
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def test_manifest_declares_the_command_shortcut_and_scopes_the_bot_uses():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    features = manifest["features"]
    (command,) = features["slash_commands"]
    assert command["command"] == "/wan" and command["usage_hint"]
    (shortcut,) = features["shortcuts"]
    assert shortcut["callback_id"] == "triage_message" and shortcut["type"] == "message"
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:write", "files:read", "usergroups:read", "channels:join",
            "channels:read", "groups:read"} <= scopes  # groups:read: who may see a job in a private channel
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_dockerfile_runs_serve_as_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "bot", "serve"]' in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "\nUSER " in text and "VOLUME" in text


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is installed with the test extras on x86_64 Linux")
def test_dockerfile_lints_clean():
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
