"""The price table (WAN_PRICES): parsing, the row that wins, estimates and bills."""

import json
import logging
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings
from bot.wan.pricing import PriceTableError, Pricing, parse_price_table, settle
from bot.wan.request import build_request, estimate_cost_usd

EXAMPLE = Path(__file__).resolve().parents[3] / "prices" / "dashscope-intl.toml"
T2V = {"prompt": "a fox in snow"}
I2V = {"prompt": "waves", "image_url": "https://example.com/a.png"}
R2V = {"prompt": "character1 waves", "reference_video_url": ["https://example.com/c1.mp4"]}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for var in ("WAN_PRICES", "WAN_PRICE_PER_SECOND", "WAN_MODEL_T2V", "WAN_MODEL_I2V"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_estimate_of_a_1080p_sound_on_10_s_job_comes_from_the_table(env):
    pricing = load_settings(wan_prices=str(EXAMPLE)).pricing()
    req = build_request("t2v", {**T2V, "duration": 10, "resolution": "1080P", "audio": "on"})
    assert estimate_cost_usd(req, pricing) == 1.5  # 10 s x $0.15/s, not the flat 10 x $0.06
    assert estimate_cost_usd(build_request("t2v", {**T2V, "duration": 10}), pricing) == 1.0  # 720P
    assert pricing.quote(req).line() == "10 s × $0.15/s ≈ $1.50"


def test_without_a_table_everything_costs_the_flat_price(env):
    pricing = load_settings(wan_price_per_second=0.08).pricing()
    req = build_request("t2v", {**T2V, "duration": 10, "resolution": "1080P"})
    assert estimate_cost_usd(req, pricing) == 0.8 == estimate_cost_usd(req, 0.08)


def test_flash_prices_depend_on_sound_and_r2v_bills_its_reference_videos(env):
    pricing = load_settings(wan_prices=str(EXAMPLE)).pricing()
    flash = {**I2V, "variant": "flash"}
    assert pricing.estimate(build_request("i2v", {**flash, "audio": "off"})) == 0.125
    assert pricing.estimate(build_request("i2v", flash)) == 0.25  # sound is on unless turned off
    assert pricing.estimate(build_request("i2v", {**flash, "resolution": "1080P"})) == 0.375
    quote = pricing.quote(build_request("r2v", R2V))
    assert (quote.output_usd_per_second, quote.input_seconds, quote.usd) == (0.10, 5, 1.0)
    assert "input" in quote.line()
    assert pricing.estimate(build_request("r2v", {"prompt": "x", "reference_url": "https://e.com/a.png"})) == 0.5


def test_the_most_specific_row_wins_and_ties_go_to_the_first_listed():
    table = parse_price_table({"default": 0.5, "output": [
        {"mode": "t2v", "usd_per_second": 0.2},
        {"mode": "t2v", "resolution": "1080P", "usd_per_second": 0.3},
        {"mode": "t2v", "resolution": "1080P", "sound": False, "usd_per_second": 0.4},
        {"mode": "t2v", "resolution": "1080P", "sound": False, "usd_per_second": 9.0},
        {"resolution": "1080P", "usd_per_second": 0.25},
    ]})
    pricing = Pricing(0.06, table)
    assert pricing.rate(build_request("t2v", T2V)) == 0.2
    assert pricing.rate(build_request("t2v", {**T2V, "resolution": "1080P"})) == 0.3
    assert pricing.rate(build_request("t2v", {**T2V, "resolution": "1080P", "audio": "off"})) == 0.4
    assert pricing.rate(build_request("i2v", I2V)) == 0.5  # no row: the table's default
    assert pricing.rate(build_request("i2v", {**I2V, "resolution": "1080P"})) == 0.25


def test_json_tables_work_too(env):
    path = env / "prices.json"
    path.write_text(json.dumps({"output": [{"mode": "i2v", "usd_per_second": 0.07}]}))
    pricing = load_settings(wan_prices=str(path), wan_price_per_second=0.01).pricing()
    assert pricing.estimate(build_request("i2v", I2V)) == 0.35
    assert pricing.estimate(build_request("t2v", T2V)) == 0.05  # unmatched: the flat price


@pytest.mark.parametrize("text, words", [
    ("[[output]]\nmodel = 'wan2.6-t2v'\n", "usd_per_second is required"),
    ("[[output]]\nusd_per_second = -1\n", "0 or more"),
    ("[[output]]\nusd_per_second = 0.1\nresolution = '4K'\n", "720P or 1080P"),
    ("[[output]]\nusd_per_second = 0.1\ncolour = 'red'\n", "unknown key"),
    ("[[output]]\nusd_per_second = 0.1\nsound = 'yes'\n", "true or false"),
    ("currency = 'EUR'\ndefault = 0.1\n", "USD"),
    ("output = [\n", "not valid TOML"),
    ("", "no `output` rows"),
])
def test_a_malformed_table_stops_start_up_naming_the_setting(env, text, words):
    path = env / "prices.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(wan_prices=str(path))
    assert str(info.value).startswith("WAN_PRICES is invalid") and words in str(info.value)
    with pytest.raises(SettingsError, match="WAN_PRICES.*cannot read"):
        load_settings(wan_prices=str(env / "missing.toml"))


def test_bad_rows_are_located():
    with pytest.raises(PriceTableError, match=r"output\[1\]\.mode"):
        parse_price_table({"output": [{"usd_per_second": 1}, {"mode": "v2v", "usd_per_second": 1}]})


def test_the_bill_is_the_gateways_when_reported_and_a_gap_over_1_percent_is_kept(caplog):
    pricing = Pricing(0.06, parse_price_table({"output": [{"resolution": "1080P", "usd_per_second": 0.15}]}))
    req = build_request("t2v", {**T2V, "duration": 10, "resolution": "1080P"})
    estimate = pricing.estimate(req)
    with caplog.at_level(logging.WARNING, logger="bot.wan.pricing"):
        close = settle(req, pricing, estimated_usd=estimate, billed_seconds=10, reported_usd=1.505)
        assert (close.usd, close.from_gateway, close.differs) == (1.505, True, None)
        assert not caplog.records
        far = settle(req, pricing, estimated_usd=estimate, billed_seconds=10, reported_usd=0.6, job_id="j1")
    assert far.usd == 0.6
    assert far.differs == {"estimated_usd": 1.5, "billed_usd": 0.6, "percent": -60.0}
    (record,) = caplog.records
    assert record.job_id == "j1" and "1%" in record.getMessage()
    # No amount in the usage (DashScope reports seconds only): the table's rate for the seconds billed.
    unreported = settle(req, pricing, estimated_usd=estimate, billed_seconds=8, reported_usd=None)
    assert (unreported.usd, unreported.seconds, unreported.from_gateway) == (1.2, 8.0, False)
