"""`python -m bot.devslack [--port N]`: run the Slack stand-in alone (for poking at it by hand)."""

from __future__ import annotations

import argparse
import asyncio

from bot.devslack.server import SlackStandIn


async def _serve(args: argparse.Namespace) -> None:
    standin = SlackStandIn(bot_token=args.token)
    await standin.start(args.host, args.port)
    standin.add_channel("C0DEV", "general")
    standin.add_user("U0DEV", "you", is_admin=True)
    standin.on_event(lambda e: print(f"[{e.kind}] {e.channel or ''} {e.ts or ''} {e.data}", flush=True))
    print(f"Slack stand-in at {standin.api_url} (token {args.token}, channel C0DEV, user U0DEV)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.devslack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8902)
    parser.add_argument("--token", default="xoxb-dev-local")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
