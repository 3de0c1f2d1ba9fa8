"""Scenarios run the real bot on loopback: one world (tests/support/world.py) for all of them."""

from __future__ import annotations

import pytest

from tests.support.world import World, start_world


@pytest.fixture
async def make_world(simulator, make_settings, tmp_path):
    """`await make_world(**settings)`: a world with some settings changed (closed after the test)."""
    closers = []

    async def make(**overrides) -> World:
        world, close = await start_world(simulator, make_settings, tmp_path, **overrides)
        closers.append(close)
        return world

    yield make
    for close in closers:
        await close()


@pytest.fixture
async def world(make_world) -> World:
    return await make_world()
