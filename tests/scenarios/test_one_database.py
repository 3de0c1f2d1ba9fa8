"""Issue 14 item 2: two processes on one SQLite file. A second `serve` on a file another process serves
refuses to start with one line and a non-zero exit (PostgreSQL replicas share the work through leases
instead); `generate` only ever drives its own job, several of them work side by side in one folder, and
a `generate` whose job another process ended returns instead of waiting forever."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from bot.devslack import SlackStandIn
from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore
from bot.jobs.store.exclusive import lock_path
from bot.wan.request import build_request
from tests.support.processes import ENV_VARS, Bot, free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(**values) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and not k.startswith(("WAN_", "WANBOT_"))}
    env.update({"PYTHONPATH": str(ROOT), **{k: str(v) for k, v in values.items()}})
    return env


async def _run(args: list[str], env: dict, cwd: Path, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"`{' '.join(args[:1])}` still running after {timeout} s") from None
    return proc.returncode, out.decode(), err.decode()


def _states(db: Path) -> dict[str, str]:
    """Job id -> state; empty while the process that creates the file has not made its tables yet."""
    import sqlite3

    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise


async def test_a_second_serve_on_the_same_sqlite_file_refuses_to_start_in_one_line(tmp_path, simulator):
    standin = await SlackStandIn().start()
    db = tmp_path / "shared.db"
    env = _env(SLACK_BOT_TOKEN=standin.bot_token, SLACK_SIGNING_SECRET=standin.signing_secret,
               SLACK_API_URL=standin.api_url, WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key,
               WANBOT_DB=db)
    first = Bot(env, free_port(), tmp_path)
    try:
        await first.start()
        code, out, err = await _run(["serve", "--host", "127.0.0.1", "--port", str(free_port())], env, tmp_path,
                                    timeout=45)
        assert code != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "WANBOT_DB" in lines[0] and "in use by another wanbot process" in lines[0], err
        assert str(first.proc.pid) in lines[0]
        assert standin.bot_token not in err
        assert first.proc.returncode is None  # the first one serves on

        await first.kill()  # however the holder ends, the lock goes with it: a restart is never refused
        await first.start()
    finally:
        if first.proc and first.proc.returncode is None:
            await first.kill()
        await standin.close()
    assert lock_path(str(db)) == Path(str(db) + ".lock")
    assert lock_path("postgresql://postgres@127.0.0.1/test") is None  # replicas share PostgreSQL by leases


async def test_generate_leaves_another_processs_unfinished_job_alone(tmp_path, simulator):
    # Another `generate` in this folder has stored its job and is about to submit it; this one must not.
    db = tmp_path / "wanbot.db"
    store = await JobStore.open(str(db))
    other = Job(id="jother0000000001", request=build_request("t2v", {"prompt": "someone else's fox"}).body(),
                origin="cli", estimated_cost_usd=0.3)
    await store.create_job(other)
    await store.close()
    env = _env(WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key)
    code, out, err = await _run(["generate", "--prompt", "my own fox", "--duration", "2", "-o", "mine.mp4",
                                 "--quiet"], env, tmp_path)
    assert code == 0, err
    assert (tmp_path / "mine.mp4").stat().st_size > 0
    assert other.id not in simulator.stats.submits_by_key  # never submitted (paid) by this process
    assert simulator.stats.tasks_created == 1
    assert _states(db)[other.id] == JobState.PENDING.value


async def test_several_generates_in_one_folder_each_make_their_own_video_once(tmp_path, simulator):
    simulator.config.update({"run_seconds": 2.0})
    env = _env(WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key)

    async def one(n: int) -> tuple[int, str, str]:
        await asyncio.sleep(0.7 * n)  # started while the others' jobs are in flight
        return await _run(["generate", "--prompt", f"fox number {n}", "--duration", "2", "-o", f"fox{n}.mp4",
                           "--quiet"], env, tmp_path, timeout=90)

    results = await asyncio.gather(*(one(n) for n in range(3)))
    for code, _out, err in results:
        assert code == 0, err
    for n in range(3):
        assert (tmp_path / f"fox{n}.mp4").stat().st_size > 0
    assert simulator.stats.tasks_created == 3
    assert all(count == 1 for count in simulator.stats.submits_by_key.values()), simulator.stats.submits_by_key
    assert set(_states(tmp_path / "wanbot.db").values()) == {JobState.DELIVERED.value}


async def test_a_generate_whose_job_another_process_ended_returns(tmp_path, simulator):
    simulator.config.update({"never_finish": True})
    db = tmp_path / "wanbot.db"
    env = _env(WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key)
    run = asyncio.create_task(_run(["generate", "--prompt", "a fox that never ends", "--duration", "2", "--quiet"],
                                   env, tmp_path, timeout=60))
    deadline = time.monotonic() + 30
    while not (db.exists() and JobState.RUNNING.value in _states(db).values()):
        assert time.monotonic() < deadline and not run.done(), "the job never ran"
        await asyncio.sleep(0.1)
    (job_id,) = _states(db)
    store = await JobStore.open(str(db))  # another process (an admin's /wan cancel in `serve`) ends it
    try:
        await store.transition(job_id, JobState.CANCELED, expect=[JobState.RUNNING, JobState.QUEUED])
    finally:
        await store.close()
    code, out, err = await run
    assert code == 1 and "canceled" in err.strip().splitlines()[-1], err


async def test_a_killed_generate_says_nothing_but_resume_finishes_its_job_once(tmp_path, simulator):
    # A generate killed mid-render leaves its job running in the store; no other generate takes it
    # (each drives only its own), so `generate --resume JOB` is how it is finished: polled, saved, and
    # never submitted (paid) a second time.
    simulator.config.update({"run_seconds": 3.0})
    db = tmp_path / "wanbot.db"
    env = _env(WAN_API_BASE=simulator.base_url, WAN_API_KEY=simulator.config.api_key)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "generate", "--prompt", "a fox cut short", "--duration", "2", "-o", "fox.mp4",
        "--quiet", cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (db.exists() and JobState.RUNNING.value in _states(db).values()):
        assert time.monotonic() < deadline and proc.returncode is None, "the job never ran"
        await asyncio.sleep(0.1)
    proc.kill()
    await proc.wait()
    (job_id,) = _states(db)

    code, out, err = await _run(["generate", "--resume", job_id[:8]], env, tmp_path, timeout=60)
    assert code == 0, err
    assert f"saved fox.mp4 (job {job_id}" in out
    assert (tmp_path / "fox.mp4").stat().st_size > 0
    assert simulator.stats.tasks_created == 1 and simulator.stats.submits_by_key == {job_id: 1}
    assert _states(db)[job_id] == JobState.DELIVERED.value

    code, out, err = await _run(["generate", "--resume", "jnosuchjob"], env, tmp_path)
    assert code == 2 and "no job 'jnosuchjob'" in err
