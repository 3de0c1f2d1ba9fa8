import httpx
import pytest

from bot.sim import SimConfig, Simulator

KEY = "sk-sim-local"


@pytest.fixture
async def sim():
    simulator = Simulator(SimConfig(queue_seconds=0.05, run_seconds=0.2, seed=1))
    await simulator.start()
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(sim):
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=5) as c:
        yield c
