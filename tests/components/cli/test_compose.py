"""The deployment file `compose.yaml` (PostgreSQL and two replicas), read with a YAML parser as
Compose reads it: there is no Docker engine here to run it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import Settings
from bot.slack.serve import SHUTDOWN_GRACE

ROOT = Path(__file__).resolve().parents[3]
REPLICAS = ("wanbot-1", "wanbot-2")
# What a setting's name says is secret: its value may only come from the env file.
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD")
INTERPOLATION = re.compile(r"^\$\{[A-Z_]+(:?\?[^}]*)?\}$")


def _compose() -> dict:
    # Compose's own extension: `x-` keys hold anchors; the merge key `<<` is plain YAML 1.1.
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)", value).groups()
    return float(number) * (60 if unit == "m" else 1)


def test_postgresql_and_two_replicas_each_with_a_healthcheck():
    services = _compose()["services"]
    assert set(services) == {"postgres", *REPLICAS}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in REPLICAS:
        service = services[name]
        assert service["build"] == "." and (ROOT / "Dockerfile").exists()
        probe = " ".join(service["healthcheck"]["test"])
        assert "/healthz" in probe and f":{service['environment']['PORT']}/" in probe
        assert service["ports"] == [f"300{name[-1]}:{service['environment']['PORT']}"]
    assert len({services[name]["hostname"] for name in REPLICAS}) == 2
    # Each replica its own id for its leases (two live replicas must never share one).
    assert sorted(services[name]["environment"]["WANBOT_REPLICA_ID"] for name in REPLICAS) == list(REPLICAS)


def test_replicas_wait_for_a_healthy_database_and_stop_gracefully():
    services = _compose()["services"]
    for name in REPLICAS:
        service = services[name]
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["stop_signal"] == "SIGTERM"
        # Compose must not SIGKILL a replica still finishing its steps (serve's own grace).
        assert _seconds(service["stop_grace_period"]) > SHUTDOWN_GRACE


def test_the_database_lives_in_a_named_volume():
    compose = _compose()
    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_settings_come_from_an_env_file_and_every_wanbot_setting_named_exists():
    services = _compose()["services"]
    known = {name.upper() for name in Settings.model_fields}
    for name in REPLICAS:
        service = services[name]
        assert service["env_file"] == ".env"
        environment = service["environment"]
        assert environment["WANBOT_DB"].startswith("postgresql://")
        for variable in environment:
            assert variable in known, f"{name} sets {variable}, which is not a wanbot setting"


def test_no_secret_is_written_in_the_file():
    compose = _compose()
    for service in compose["services"].values():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable):
                assert INTERPOLATION.match(str(value)), f"{variable} is written in compose.yaml"
        url = (service.get("environment") or {}).get("WANBOT_DB")
        if url:  # the password part of the URL comes from the env file too
            password = re.match(r"postgresql://[^:@/]+:([^@]+)@", url).group(1)
            assert INTERPOLATION.match(password), "WANBOT_DB holds a literal password"
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"xox[abp]-|xapp-|sk-[A-Za-z0-9]{6,}", text)
