"""What a video costs: a price table (`WAN_PRICES`, TOML or JSON) or the flat `WAN_PRICE_PER_SECOND`.

Upstream prices differ by model, resolution tier, sound and variant (Wan 2.6 at 1080P costs 1.5x
720P; flash without sound half of flash with it), and r2v also bills the seconds of its input
videos. A table lists USD per second; the row naming most of a request's traits wins, ties go to
the row listed first, and a request no row matches costs the table's `default` (else the flat
price). The format (README, "Price table"):

    default = 0.06                      # optional
    [[output]]                          # USD per second of the video made
    model = "wan2.6-i2v-flash"          # optional selectors: model, mode, resolution, sound, variant
    resolution = "720P"
    sound = false
    usd_per_second = 0.025
    [[input_video]]                     # USD per second of r2v reference video, where billed
    mode = "r2v"
    usd_per_second = 0.10
    max_seconds = 5                     # billed input seconds per request (the estimate charges this)

Pure logic; reading the file is the one I/O, at start-up.
"""

from __future__ import annotations

import json
import logging
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.wan.request import Mode, VideoRequest, parse_mode

log = logging.getLogger(__name__)

DEFAULT_TIER = "720P"  # what the formats render when no resolution is set (bot/wan/shapes.py)
BILL_TOLERANCE = 0.01  # a bill more than 1 % off the estimate is logged and shown
_SELECTORS = ("model", "mode", "resolution", "sound", "variant")


class PriceTableError(ValueError):
    """The price table cannot be used; the message says where and why."""


@dataclass(frozen=True)
class PriceRow:
    usd_per_second: float
    model: str | None = None
    mode: Mode | None = None
    resolution: str | None = None
    sound: bool | None = None
    variant: str | None = None
    max_seconds: float | None = None  # input_video rows only

    def matches(self, traits: Mapping[str, Any]) -> bool:
        return all(getattr(self, key) is None or getattr(self, key) == traits[key] for key in _SELECTORS)

    @property
    def specificity(self) -> int:
        return sum(getattr(self, key) is not None for key in _SELECTORS)


@dataclass(frozen=True)
class PriceTable:
    output: tuple[PriceRow, ...] = ()
    input_video: tuple[PriceRow, ...] = ()
    default: float | None = None
    source: str = ""

    def best(self, rows: tuple[PriceRow, ...], traits: Mapping[str, Any]) -> PriceRow | None:
        found = [row for row in rows if row.matches(traits)]
        # max() keeps the first of equals: the row listed first wins a tie.
        return max(found, key=lambda row: row.specificity) if found else None


@dataclass(frozen=True)
class Quote:
    """An estimate, itemised: what the card and the confirm dialogs can show."""

    usd: float
    output_usd_per_second: float
    output_seconds: float
    input_usd_per_second: float = 0.0
    input_seconds: float = 0.0

    def line(self) -> str:
        text = f"{self.output_seconds:g} s × ${self.output_usd_per_second:g}/s"
        if self.input_seconds:
            text += f" + {self.input_seconds:g} s input × ${self.input_usd_per_second:g}/s"
        return f"{text} ≈ ${self.usd:.2f}"


@dataclass(frozen=True)
class Pricing:
    """Prices for requests as this bot sends them (model names come from the settings)."""

    flat: float = 0.06
    table: PriceTable | None = None
    models: Mapping[Mode, str] = field(default_factory=dict)
    flash_models: Mapping[Mode, str] = field(default_factory=dict)

    def traits(self, req: VideoRequest) -> dict[str, Any]:
        model = (self.flash_models if req.flash else self.models).get(req.mode)
        tier = None if req.mode is Mode.VIDEO_EDIT else (req.get("resolution") or DEFAULT_TIER)
        return {"model": model, "mode": req.mode, "resolution": tier, "sound": req.sound,
                "variant": "flash" if req.flash else "standard"}

    def rate(self, req: VideoRequest) -> float:
        """USD per second of output video for this request."""
        if self.table is None:
            return self.flat
        row = self.table.best(self.table.output, self.traits(req))
        if row is not None:
            return row.usd_per_second
        return self.flat if self.table.default is None else self.table.default

    def quote(self, req: VideoRequest, seconds: float | None = None) -> Quote:
        seconds = req.duration if seconds is None else seconds
        rate = self.rate(req)
        in_rate = in_seconds = 0.0
        if self.table is not None and req.get("reference_video_url"):
            row = self.table.best(self.table.input_video, self.traits(req))
            if row is not None:
                in_rate = row.usd_per_second
                # Clip lengths are unknown until the gateway fetches them: charge the billed cap.
                in_seconds = row.max_seconds if row.max_seconds is not None else 5.0
        usd = round(seconds * rate + in_seconds * in_rate, 4)
        return Quote(usd, rate, seconds, in_rate, in_seconds)

    def estimate(self, req: VideoRequest) -> float:
        return self.quote(req).usd


def load_price_table(path: str | Path) -> PriceTable:
    """Read and check a TOML or JSON price table; PriceTableError says what is wrong and where."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise PriceTableError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> PriceTable:
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if path.lower().endswith(".json") else tomllib.loads(text)
    except OSError as exc:
        raise PriceTableError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise PriceTableError(f"{path} is not valid {'JSON' if path.lower().endswith('.json') else 'TOML'}: "
                              f"{exc}") from None
    return parse_price_table(data, source=path)


def parse_price_table(data: Any, source: str = "") -> PriceTable:
    if not isinstance(data, Mapping):
        raise PriceTableError("a price table is an object with `output` rows")
    unknown = set(data) - {"default", "output", "input_video", "currency", "source", "updated"}
    if unknown:
        raise PriceTableError(f"unknown key(s) {', '.join(sorted(unknown))}; use default, output, input_video")
    if data.get("currency", "USD") != "USD":
        raise PriceTableError("prices must be in USD (currency = \"USD\")")
    default = data.get("default")
    if default is not None:
        default = _usd(default, "default")
    output = tuple(_row(row, f"output[{i}]", False) for i, row in enumerate(_rows(data, "output")))
    inputs = tuple(_row(row, f"input_video[{i}]", True) for i, row in enumerate(_rows(data, "input_video")))
    if not output and default is None:
        raise PriceTableError("the table has no `output` rows and no `default`")
    return PriceTable(output, inputs, default, source)


def _rows(data: Mapping[str, Any], key: str) -> list[Any]:
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise PriceTableError(f"`{key}` must be a list of rows ([[{key}]] in TOML)")
    return rows


def _usd(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PriceTableError(f"{where}: must be a number of USD, 0 or more")
    return float(value)


def _row(row: Any, where: str, is_input: bool) -> PriceRow:
    if not isinstance(row, Mapping):
        raise PriceTableError(f"{where}: must be a table of selectors and usd_per_second")
    allowed = set(_SELECTORS) | {"usd_per_second"} | ({"max_seconds"} if is_input else set())
    unknown = set(row) - allowed
    if unknown:
        raise PriceTableError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: "
                              + ", ".join(sorted(allowed)))
    if "usd_per_second" not in row:
        raise PriceTableError(f"{where}: usd_per_second is required")
    values: dict[str, Any] = {"usd_per_second": _usd(row["usd_per_second"], f"{where}.usd_per_second")}
    if "model" in row:
        if not isinstance(row["model"], str) or not row["model"].strip():
            raise PriceTableError(f"{where}.model: must be a model name such as wan2.6-t2v")
        values["model"] = row["model"].strip()
    if "mode" in row:
        try:
            values["mode"] = parse_mode(str(row["mode"]))
        except ValueError:
            raise PriceTableError(f"{where}.mode: must be t2v, i2v, r2v or edit") from None
    if "resolution" in row:
        tier = str(row["resolution"]).upper()
        if tier not in ("720P", "1080P"):
            raise PriceTableError(f"{where}.resolution: must be 720P or 1080P")
        values["resolution"] = tier
    if "sound" in row:
        if not isinstance(row["sound"], bool):
            raise PriceTableError(f"{where}.sound: must be true or false")
        values["sound"] = row["sound"]
    if "variant" in row:
        if row["variant"] not in ("standard", "flash"):
            raise PriceTableError(f"{where}.variant: must be standard or flash")
        values["variant"] = row["variant"]
    if "max_seconds" in row:
        values["max_seconds"] = _usd(row["max_seconds"], f"{where}.max_seconds")
    return PriceRow(**values)


def pricing_for(settings: Any) -> Pricing:
    """The pricing the settings describe: WAN_PRICES when set (checked at start-up), else the flat price."""
    table = load_price_table(settings.wan_prices) if getattr(settings, "wan_prices", None) else None
    models = {Mode.TEXT_TO_VIDEO: settings.wan_model_t2v, Mode.IMAGE_TO_VIDEO: settings.wan_model_i2v,
              Mode.R2V: settings.wan_model_r2v, Mode.VIDEO_EDIT: settings.wan_model_edit}
    flash = {Mode.IMAGE_TO_VIDEO: getattr(settings, "wan_model_i2v_flash", "wan2.6-i2v-flash"),
             Mode.R2V: getattr(settings, "wan_model_r2v_flash", "wan2.6-r2v-flash")}
    return Pricing(settings.wan_price_per_second, table, models, flash)


# --- after the job: the bill ----------------------------------------------------------------------

@dataclass(frozen=True)
class Bill:
    usd: float
    seconds: float
    from_gateway: bool                    # the gateway's usage named the amount
    differs: dict[str, Any] | None = None  # set when more than 1 % off the estimate


def settle(req: VideoRequest, price: Pricing | float, *, estimated_usd: float, billed_seconds: float | None,
           reported_usd: float | None, job_id: str = "") -> Bill:
    """The billed amount: the gateway's own when its usage reports one, else seconds x the table's rate.
    A gateway bill more than 1 % off the estimate is logged and returned in `differs`."""
    seconds = float(req.duration) if billed_seconds is None else float(billed_seconds)
    if reported_usd is None:
        if isinstance(price, Pricing):
            usd = price.quote(req, seconds).usd
        else:
            usd = round(seconds * price, 4)
        return Bill(round(usd, 4), seconds, False)
    usd = round(float(reported_usd), 4)
    differs = None
    gap = usd - estimated_usd
    if abs(gap) > BILL_TOLERANCE * max(estimated_usd, 0.0001):
        percent = round(100 * gap / estimated_usd, 1) if estimated_usd else None
        differs = {"estimated_usd": round(estimated_usd, 4), "billed_usd": usd, "percent": percent}
        log.warning("gateway bill differs from the estimate by more than 1%",
                    extra={"job_id": job_id, **differs})
    return Bill(usd, seconds, True, differs)
