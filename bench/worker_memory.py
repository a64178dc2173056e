"""What ``tidings worker`` holds before its first mailbox: resident memory (RSS, and PSS, which
counts pages shared among the processes once) of the worker process and of every process it
started, built as the command builds it on a fresh SQLite database, and which libraries it
loaded. The parse processes (with their forkserver and multiprocessing's resource tracker)
run only while there is email to parse: the figures are given without them, as an idle
worker is, and with them, as one parsing is.

    python bench/worker_memory.py [--parse-workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from processes import process_tree, proportional_mb, resident_mb

#: Libraries a reader may want to see counted: loaded or not.
WATCHED = ("alembic", "pydantic", "fastapi", "sqlalchemy", "cryptography", "httpx", "pygments")


def _vmrss(pid: int | str = "self") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parse-workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/tidings.db"
        # Created by a `tidings db upgrade` of its own: migrating loads what a worker never does.
        os.environ.update(
            TIDINGS_DATABASE_URL=url,
            TIDINGS_SECRET_KEY_FILE=f"{folder}/secret.key",
            TIDINGS_PARSE_WORKERS=str(args.parse_workers),
        )
        command = Path(sys.executable).with_name("tidings")
        if os.system(f"{command} db upgrade > /dev/null") != 0:  # noqa: S605
            raise SystemExit("tidings db upgrade failed")
        start = _vmrss()
        import tidings.entrypoints.cli.main  # noqa: F401
        from tidings.entrypoints.cli.common import ready

        command_line = _vmrss()
        app = ready()
        app.log_to_standard_error()
        app.mailbox_holding()
        built = _vmrss()
        print(f"worker process: interpreter {start:.1f} MB, command line {command_line:.1f} MB,")
        print(f"  built as `tidings worker` builds it {built:.1f} MB ({len(sys.modules)} modules)")
        for when in ("idle, no email to parse", "parsing"):
            if when == "parsing":
                app.parser.warm_up()
            tree = process_tree(os.getpid())
            rss, pss = resident_mb(os.getpid()), proportional_mb(os.getpid())
            print(
                f"{when}: worker and its {len(tree) - 1} processes: "
                f"RSS {rss:.1f} MB, PSS {pss:.1f} MB"
            )
        print("loaded:", ", ".join(f"{m} {'yes' if m in sys.modules else 'no'}" for m in WATCHED))
        app.close()


if __name__ == "__main__":
    main()
