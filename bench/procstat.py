"""Memory figures of the running process, read from Linux's /proc/self/status."""

from __future__ import annotations


def status_kib(field: str) -> int:
    """A /proc/self/status field in KiB (VmRSS: resident now, VmHWM: peak); 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0
