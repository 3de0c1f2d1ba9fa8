"""Gateway simulator (`python -m bot simulate`): every wire format of gateway-api.md, real MP4s, faults."""

from bot.sim.server import SimConfig, SimStats, Simulator, create_app

__all__ = ["SimConfig", "SimStats", "Simulator", "create_app"]
