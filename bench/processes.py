"""What processes use, read from ``/proc``: a process and its descendants' memory and CPU,
and how busy the whole machine is. Imports nothing heavy: ``worker_memory.py`` counts the
libraries its own process loads."""

from __future__ import annotations

import os
import re
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def resident_mb(pid: int) -> float:
    """Resident memory of the process tree (each process's VmRSS, summed)."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total / 1024


def proportional_mb(pid: int) -> float:
    """Proportional memory (PSS) of the process tree: a page shared by n processes (the
    parse processes and the forkserver they were forked from) counts 1/n in each."""
    total = 0
    for member in process_tree(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total / 1024


def cpu_seconds(pid: int, *, python_only: bool = False) -> float:
    """User and system CPU the process tree has used so far; with ``python_only``, only its
    Python processes (a process and its parse processes, without the servers a benchmark
    started beside it)."""
    ticks = 0
    for member in process_tree(pid):
        try:
            if python_only and not Path(f"/proc/{member}/comm").read_text().startswith("python"):
                continue
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine so far (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return sum(fields) - idle, sum(fields)


def machine_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of every core's time spent busy between two ``machine_ticks``."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)
