"""The gateway simulator: one aiohttp app speaking the unified, openai and dashscope wire formats
of gateway-api.md at once, with fault injection for tests and `python -m bot dev`.

This module only assembles the app from the route tables of its parts and runs it on a socket.
"""

from __future__ import annotations

from aiohttp import web

from bot.sim import control, downloads, handlers, newapi, script
from bot.sim.config import SimConfig
from bot.sim.middleware import middleware
from bot.sim.state import STATE, SimState, SimStats, SimTask

__all__ = ["STATE", "SimConfig", "SimStats", "SimTask", "Simulator", "create_app"]


MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(config: SimConfig | None = None) -> web.Application:
    # A 10 MB image (the gateway's cap on a data: URI, gateway-api.md) is a 13.4 MB JSON body: aiohttp's
    # 1 MB default would refuse every real attached image.
    app = web.Application(middlewares=[middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = SimState(config or SimConfig())
    app.add_routes(handlers.ROUTES)
    app.add_routes(downloads.ROUTES)
    app.add_routes(control.ROUTES)
    script.install(app)  # scripted faults: which call misbehaves, and how
    app.add_routes(newapi.ROUTES)  # new-api's log and task admin APIs, for triage's fetch
    # Further route tables (e.g. the new-api log and task endpoints) join here, one line each.
    return app


class Simulator:
    """A running simulator on a real socket: `await sim.start()`, use `sim.base_url`, `await sim.close()`."""

    def __init__(self, config: SimConfig | None = None):
        self.app = create_app(config)
        self.state = self.app[STATE]
        self.config = self.state.config
        self.stats = self.state.stats
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    @property
    def tasks(self) -> dict[str, SimTask]:
        return self.state.tasks

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Short shutdown timeout: hanging requests (hang_rate) must not hold up close().
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
