import pytest

from bot.config import SettingsError, load_settings
from bot.redact import redact


def test_malformed_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("WAN_PRICE_PER_SECOND", "cheap")
    with pytest.raises(SettingsError, match="WAN_PRICE_PER_SECOND"):
        load_settings()


def test_id_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("WANBOT_ADMIN_USERS", "U1, U2,,U3")
    assert load_settings().wanbot_admin_users == ["U1", "U2", "U3"]


def test_required_setting_missing_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("WAN_API_BASE", raising=False)
    with pytest.raises(SettingsError, match="^WAN_API_BASE is not set"):
        load_settings().require("wan_api_base")


def test_configured_secrets_are_masked_whatever_their_shape(monkeypatch):
    monkeypatch.setenv("WAN_API_KEY", "plainsecretvalue123")
    load_settings()
    assert "plainsecretvalue123" not in redact("calling with key plainsecretvalue123 now")


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer abcdef123456789", "abcdef123456789"),
    ("key sk-live-ABCDEFGHIJKLMNOP in curl", "ABCDEFGHIJKLMNOP"),
    ("token xoxb-1234-5678-abcdefghij", "abcdefghij"),
    ("app xapp-1-A123-456-abcdef", "abcdef"),
])
def test_redact_masks_token_shapes(text, secret):
    assert secret not in redact(text)
