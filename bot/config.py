"""Settings from the environment (and `.env`), as listed in shared/spec/operations.md.

A missing or malformed setting stops start-up with one line naming the variable (`SettingsError`).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.redact import register_secret


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _split_ids(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


IdList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(3000, ge=1, le=65535)

    # Gateway
    wan_api_base: str | None = None
    wan_api_key: SecretStr | None = None
    wan_api_format: Literal["unified", "openai", "dashscope"] = "unified"
    wan_price_per_second: float = Field(0.06, ge=0)
    # Path of a price table (TOML or JSON, bot/wan/pricing.py); checked at start-up.
    wan_prices: str | None = None
    # What --draft and the Final button set (bot/wan/profiles.py): name=value of the model's own parameters
    wanbot_draft: str = "variant=flash,resolution=720P,audio=off"
    wanbot_final: str = "resolution=1080P,audio=on"
    wan_max_in_flight: int = Field(20, ge=1)
    # openai format: submit path and model names per mode (gateway-api.md)
    wan_openai_path: str = "/v1/video/generations"
    wan_model_t2v: str = "wan2.6-t2v"
    wan_model_i2v: str = "wan2.6-i2v"
    wan_model_r2v: str = "wan2.6-r2v"
    wan_model_edit: str = "wan2.1-vace-plus"
    # The faster, cheaper variants (`variant: flash`); Model Studio has them for i2v and r2v only.
    wan_model_i2v_flash: str = "wan2.6-i2v-flash"
    wan_model_r2v_flash: str = "wan2.6-r2v-flash"
    wan_timeout_seconds: float = Field(30.0, gt=0)
    wan_job_time_limit_minutes: float = Field(30.0, gt=0)
    # Polling: the first poll comes this soon after submit; until recent jobs of the same mode and
    # duration have finished, the run time is guessed (unset: 30 s + 12 s per second of video).
    wan_poll_min_seconds: float = Field(2.0, gt=0)
    wan_expected_seconds: float | None = Field(None, gt=0)

    # Bot
    wanbot_db: str = "./wanbot.db"
    # Several replicas on one PostgreSQL database: each unfinished job is driven by one replica at a
    # time under a lease of this many seconds, renewed while it lives (bot/jobs/leases.py); the
    # replica's id in the leases, logs, /healthz and /metrics (unset: hostname-pid)
    wanbot_lease_seconds: float = Field(30.0, ge=1)
    wanbot_replica_id: str | None = None
    wanbot_support_usergroup: str | None = None
    wanbot_support_users: IdList = []
    wanbot_admin_users: IdList = []
    wanbot_user_daily_budget_usd: float | None = Field(None, ge=0)
    wanbot_max_active_jobs_per_user: int = Field(5, ge=1)
    wanbot_max_video_bytes: int = Field(1_000_000_000, ge=1)
    wanbot_download_timeout_seconds: float = Field(300.0, gt=0)
    wanbot_quota_per_usd: float = Field(500_000, gt=0)
    wanbot_triage_stuck_minutes: float = Field(30.0, gt=0)
    # Triage: extra model name patterns billed as video/image models (fnmatch, comma-separated), and
    # the page customer replies link to for the task API (no link when unset).
    wanbot_triage_media_models: IdList = []
    wanbot_task_api_docs_url: str | None = None
    # Triage: the reply language when the input holds no prose of the customer's
    wanbot_triage_language: Literal["en", "zh"] = "en"
    # Triage: new-api's log and task admin APIs (an access token and its user id, sent as New-Api-User)
    wanbot_newapi_url: str | None = None
    wanbot_newapi_token: SecretStr | None = None
    wanbot_newapi_user: str | None = None
    # chat.update is Tier 3 (about 50 a minute per workspace): job cards share this budget
    wanbot_card_updates_per_minute: float = Field(40.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("wanbot_support_users", "wanbot_admin_users", "wanbot_triage_media_models", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("wanbot_triage_language", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("wan_api_base", "slack_api_url", "wanbot_newapi_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://gateway.example.com")
        return value

    @field_validator("wan_prices")
    @classmethod
    def _prices(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        from bot.wan.pricing import load_price_table  # deferred: settings load before the request model

        load_price_table(value)  # raises with what is wrong and where
        return value

    @field_validator("wanbot_draft", "wanbot_final")
    @classmethod
    def _profile(cls, value: str) -> str:
        from bot.wan.profiles import parse_profile  # deferred like the price table's

        parse_profile(value)
        return value

    def draft_profile(self) -> dict:
        from bot.wan.profiles import parse_profile

        return parse_profile(self.wanbot_draft)

    def final_profile(self) -> dict:
        from bot.wan.profiles import parse_profile

        return parse_profile(self.wanbot_final)

    def pricing(self):
        """The prices of WAN_PRICES, else WAN_PRICE_PER_SECOND for everything (bot.wan.pricing.Pricing)."""
        from bot.wan.pricing import pricing_for

        return pricing_for(self)

    def require(self, *names: str) -> None:
        """Fail with one clear line if a setting a command needs is unset."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):  # SecretStr("") is not "": an empty secret is no secret
                value = value.get_secret_value()
            if value is None or (isinstance(value, str) and not value.strip()):
                raise SettingsError(f"{name.upper()} is not set (see README: Settings)")

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"{name} is invalid: {first['msg']}") from None
    for name in ("slack_bot_token", "slack_signing_secret", "slack_app_token", "wan_api_key", "wanbot_newapi_token"):
        register_secret(settings.secret(name))
    # A password in WANBOT_DB (postgresql://user:password@host/db) is masked wherever it appears too,
    # and so are credentials inside WAN_API_BASE (https://user:password@host/, or a token as the user).
    with contextlib.suppress(ValueError):
        register_secret(urlsplit(settings.wanbot_db).password)
    if settings.wan_api_base:
        with contextlib.suppress(ValueError):
            parts = urlsplit(settings.wan_api_base)
            register_secret(parts.password)
            if parts.password is None:
                register_secret(parts.username)
    return settings
