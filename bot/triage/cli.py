"""`python -m bot triage PATH|- [--json] [--task ID] [--model PATTERN] [--lang zh|en]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.redact import redact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="log export (JSON, JSONL, CSV), text file, or - for stdin; "
                        "optional with --task when WANBOT_NEWAPI_URL is set (the rows are fetched)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--task", metavar="ID", help="only this task's rows (fast on big files); with "
                        "WANBOT_NEWAPI_URL/TOKEN set, its record and log rows are fetched from new-api")
    parser.add_argument("--model", metavar="PATTERN", help="only rows of models matching this pattern (wan*)")
    parser.add_argument("--lang", choices=("zh", "en"), help="reply language (default: the customer's, "
                        "else WANBOT_TRIAGE_LANGUAGE)")


def run(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.triage.engine import triage
    from bot.triage.fetch import fetcher_from_settings

    settings = load_settings()
    fetch = fetcher_from_settings(settings) if args.task else None
    kwargs = {"task_id": args.task, "model": args.model, "settings": settings, "lookup": _lookup(settings),
              "lang": args.lang, "fetch": fetch}
    if args.path is None:
        if fetch is None:
            print("wanbot triage: give a PATH (or - for stdin), or --task with WANBOT_NEWAPI_URL and "
                  "WANBOT_NEWAPI_TOKEN set", file=sys.stderr)
            return 2
    elif args.path == "-":
        kwargs["streams"] = [sys.stdin.buffer]
    else:
        path = Path(args.path)
        if not path.is_file():
            why = "is a directory" if path.is_dir() else "no such file"
            print(redact(f"wanbot triage: cannot read {args.path}: {why}"), file=sys.stderr)
            return 2
        kwargs["paths"] = [path]
    try:
        result = asyncio.run(triage(**kwargs))
    except OSError as exc:
        print(redact(f"wanbot triage: cannot read {args.path}: {exc.strerror or exc}"), file=sys.stderr)
        return 2
    from bot.triage.report import render_text

    print(result.to_json() if args.json else render_text(result))
    return 0


def _lookup(settings):
    """The gateway look-up when WAN_API_BASE is set and the client exists; else None."""
    if not settings.wan_api_base:
        return None
    try:
        from bot.wan.client import GatewayClient
    except ImportError:
        return None

    async def get_task(task_id: str):
        async with GatewayClient(settings) as client:
            return await client.get_task(task_id)

    return get_task
