"""In Socket Mode the bot still answers health checks on $PORT, but exposes no /slack/events (there is
no signing secret to verify them with)."""

import httpx

from bot.devslack import SlackStandIn
from bot.slack.app import start_http
from bot.slack.recovery import resume
from bot.slack.services import create_services


async def test_health_endpoints_without_an_events_endpoint(simulator, make_settings):
    standin = await SlackStandIn().start()
    settings = make_settings(wan_api_base=simulator.base_url, wan_api_key=simulator.config.api_key,
                             slack_bot_token=standin.bot_token, slack_app_token="xapp-1-A1-1-abcdef",
                             slack_api_url=standin.api_url)
    services = await create_services(settings)
    await resume(services)
    runner = await start_http(services, "127.0.0.1", 0, slack_events=False)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.json()["ok"] is True
            assert (await http.get("/metrics")).status_code == 200
            assert (await http.post("/slack/events", content=b"command=/wan")).status_code == 404
    finally:
        await runner.cleanup()
        await services.stop(0.5)
        await standin.close()
