"""`python -m bot simulate`: run the gateway simulator alone until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import MISSING, fields

from bot.sim.server import SimConfig, Simulator


def _config_fields():
    return [f for f in fields(SimConfig) if f.init]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port to listen on (default 8900)")
    # One flag per SimConfig field, so a new fault gets its flag for free.
    for f in _config_fields():
        flag = "--" + f.name.replace("_", "-")
        default = None if f.default is MISSING else f.default
        help_text = f"{f.metadata.get('help', '')} (default {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        elif f.name == "video_mode":
            parser.add_argument(flag, dest=f.name, choices=["ok", "404", "html", "oversize"], default=default,
                                help=help_text)
        else:
            kind = int if f.name == "seed" else type(default)
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=help_text)


async def _serve(args: argparse.Namespace) -> None:
    config = SimConfig(**{f.name: getattr(args, f.name) for f in _config_fields()})
    sim = Simulator(config)
    await sim.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    print(
        f"wanbot simulator listening on {sim.base_url} (key {config.api_key}); point the bot at it with "
        f"WAN_API_BASE={sim.base_url} WAN_API_KEY={config.api_key} "
        f"WAN_API_FORMAT=unified|openai|dashscope. Ctrl-C to stop.",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sim.close()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve(args))
    except ValueError as exc:  # a bad flag value, e.g. a rate outside 0..1
        print(f"wanbot simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # typically the port is taken
        print(f"wanbot simulate: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
