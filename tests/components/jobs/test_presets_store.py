"""Presets in the store, on both backends: saved once per name (any case), listed, used, deleted."""

import pytest

from bot.jobs.store import JobStore, PresetExists

REQUEST = {"model": "wan2-6", "mode": "text-to-video", "input": {"prompt": "a fox", "duration": 5, "seed": 7}}


async def test_a_saved_preset_survives_a_reopen_with_its_request_and_author(store_location):
    store = await JobStore.open(store_location)
    await store.save_preset("Hero-Shot", REQUEST, created_by="U1", source_job_id="j1")
    await store.close()
    again = await JobStore.open(store_location)
    try:
        preset = await again.get_preset("hero-shot")
        assert preset.name == "Hero-Shot" and preset.request == REQUEST
        assert (preset.created_by, preset.source_job_id, preset.uses, preset.last_used_at) == ("U1", "j1", 0, None)
    finally:
        await again.close()


async def test_a_name_that_clashes_in_any_case_is_refused_and_the_first_kept(store):
    await store.save_preset("hero", REQUEST, created_by="U1")
    with pytest.raises(PresetExists):
        await store.save_preset("HERO", {**REQUEST, "input": {"prompt": "other"}}, created_by="U2")
    assert (await store.get_preset("hero")).created_by == "U1"
    assert [p.name for p in await store.list_presets()] == ["hero"]


async def test_use_is_counted_and_delete_removes_it(store):
    await store.save_preset("a", REQUEST, created_by="U1")
    await store.save_preset("b", REQUEST, created_by="U1")
    await store.preset_used("A")
    used = await store.get_preset("a")
    assert used.uses == 1 and used.last_used_at >= used.created_at
    assert [p.name for p in await store.list_presets()][0] == "a"  # most recently used first
    assert await store.delete_preset("B") is True
    assert await store.delete_preset("b") is False
    assert await store.get_preset("b") is None


async def test_an_attached_image_stays_out_of_the_preset_list_and_comes_back_to_run(store_location):
    image = "data:image/png;base64," + "A" * 2_000_000  # a 1.5 MB image, as i2v attaches it
    with_image = {"model": "wan2-6", "mode": "image-to-video",
                  "input": {"prompt": "the cat waves", "image_url": image, "duration": 5}}
    store = await JobStore.open(store_location)
    try:
        await store.save_preset("cat", with_image, created_by="U1")
        (listed,) = await store.list_presets()
        assert listed.request["input"]["image_url"].startswith("attachment:image/png;bytes=")  # not the bytes
        assert (await store.get_preset("CAT")).request == with_image  # what a run sends
        assert await store.delete_preset("cat") is True
        rows = await store.db.fetch("SELECT COUNT(*) FROM preset_attachments")
        assert rows[0][0] == 0  # deleted with it
    finally:
        await store.close()
