"""Start-up time of the ``tidings`` command, against a bare ``python -c pass``, in one run.

Runs each command several times and prints the best and the median wall time: ``tidings
--help``, ``tidings admin --help`` and importing the composition root (what every command
that touches the database pays once).

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall_times(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "tidings --help": [str(BIN / "tidings"), "--help"],
        "tidings admin --help": [str(BIN / "tidings"), "admin", "--help"],
        "import tidings.bootstrap": [sys.executable, "-c", "import tidings.bootstrap"],
    }
    print(f"{'command':<28} {'best':>8} {'median':>8}   ({runs} runs each)")
    for label, command in commands.items():
        times = wall_times(command, runs)
        print(f"{label:<28} {min(times):>7.3f}s {statistics.median(times):>7.3f}s")


if __name__ == "__main__":
    main()
