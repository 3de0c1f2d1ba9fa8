"""One serving process per SQLite file.

Two `serve` processes on one SQLite file (a rolling deploy, a second terminal) would each adopt every
unfinished job: a second paid submit, a second post. So a process that serves a SQLite database first
takes an exclusive, non-blocking lock on a file beside it (`<database>.lock`); a second one is refused
with one line. The kernel releases the lock when the process ends, however it ends (SIGKILL too), so
a restart never finds a stale lock. PostgreSQL is exempt: there replicas share the work through
leases. `generate` takes no lock: it only ever drives its own job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bot.jobs.store.location import DatabaseUnusable, is_postgresql, sqlite_path


def lock_path(location: str) -> Path | None:
    """The lock file of a SQLite database; None where no lock applies (PostgreSQL, in memory)."""
    location = str(location)
    if is_postgresql(location):
        return None
    path = sqlite_path(location)
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path + ".lock")


@contextlib.contextmanager
def serving(location: str) -> Iterator[None]:
    """Hold the database's lock while the block runs; DatabaseUnusable when another process holds it."""
    path = lock_path(location)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise DatabaseUnusable(
                f"WANBOT_DB: {sqlite_path(str(location))} is already in use by another wanbot process{pid}; "
                "stop it first (one process per SQLite file), or use a postgresql:// WANBOT_DB for "
                "several replicas") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
