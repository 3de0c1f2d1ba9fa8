"""`python -m bot check`: are the settings valid, is the database reachable and migrated, does Slack
accept the token, does the gateway answer?

Prints one line per check and never a secret (tokens are shown only by their shape).
"""

from __future__ import annotations

import argparse
import asyncio

from bot.config import Settings, load_settings
from bot.jobs.store.location import display
from bot.jobs.store.probe import probe
from bot.redact import mask, redact, without_credentials
from bot.wan.client import GatewayClient
from bot.wan.errors import AuthError, GatewayError, NotFound


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-slack", action="store_true", help="don't call Slack's auth.test")


async def check_gateway(settings: Settings) -> tuple[bool, str]:
    if not settings.wan_api_base:
        return False, "WAN_API_BASE is not set"
    async with GatewayClient(settings) as client:
        try:
            # A made-up task id: "not found" proves the base URL, the format's path and the key.
            await client.get_task("wanbot-check-0000")
        except NotFound:
            pass
        except AuthError as exc:
            return False, f"the gateway refused WAN_API_KEY (HTTP {exc.status}, request id {exc.request_id})"
        except GatewayError as exc:
            # A gateway may echo the key or a credential in its error text.
            return False, redact(f"the gateway did not answer properly: {exc}")
    return True, f"{without_credentials(settings.wan_api_base)} answers ({settings.wan_api_format} format)"


async def check_slack(settings: Settings) -> tuple[bool, str]:
    token = settings.secret("slack_bot_token")
    if not token:
        return False, "SLACK_BOT_TOKEN is not set"
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=15)
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        return False, f"Slack refused SLACK_BOT_TOKEN ({mask(token)}): {exc.response.get('error')}"
    except Exception as exc:
        return False, f"cannot reach Slack at {settings.slack_api_url}: {type(exc).__name__}"
    return True, f"signed in to {answer.get('team')} as @{answer.get('user')} ({mask(token)})"


async def run_checks(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(f"settings: ok (database {display(settings.wanbot_db)}, format {settings.wan_api_format}, "
          f"price ${settings.wan_price_per_second}/s)")
    database = await probe(settings.wanbot_db)
    results = [("database", (database.ok, database.message)), ("gateway", await check_gateway(settings))]
    if not args.skip_slack:
        results.append(("slack", await check_slack(settings)))
        mode = "Socket Mode" if settings.slack_app_token else (
            "HTTP mode" if settings.slack_signing_secret else "HTTP mode needs SLACK_SIGNING_SECRET")
        print(f"slack mode: {mode}")
    for name, (ok, message) in results:
        print(redact(f"{name}: {'ok' if ok else 'FAILED'}: {message}"))
    return 0 if all(ok for _, (ok, _) in results) else 1


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_checks(args))
