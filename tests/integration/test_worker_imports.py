"""A worker loads none of the web layer or the migration tool, and loads httpx and
the mail APIs' libraries only once something needs them: each would be memory held for the
life of a process that never uses it (docs/benchmarks.md, "1,000 mailboxes on one worker")."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

#: What ``tidings worker`` never uses: the web layer, the migration tool (and its templates);
#: and what it loads only once needed: httpx for a webhook or an OAuth token, the mail APIs'
#: libraries for a mailbox of that kind.
NOT_IN_A_WORKER = (
    "alembic",
    "mako",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "httpx",
    "msal",
    "exchangelib",
    "googleapiclient",
    "google.auth",
    "google.oauth2",
    "tidings.entrypoints.api",
    "tidings.entrypoints.web",
)


def test_a_worker_built_as_the_command_builds_it_leaves_out_what_it_never_uses(
    database_url: str, tmp_path: Path
) -> None:
    # What `tidings worker` holds before its first mailbox: the command line, the checked
    # schema, the logs, the parse processes and, on PostgreSQL, its part in the task queue.
    script = f"""
        import json, os, sys
        os.environ.update(
            TIDINGS_DATABASE_URL="{database_url}",
            TIDINGS_SECRET_KEY_FILE="{tmp_path / "secret.key"}",
            TIDINGS_PARSE_WORKERS="2",
        )
        if __name__ == "__main__":
            import tidings.entrypoints.cli.main
            from tidings.entrypoints.cli.common import ready

            tidings = ready()
            tidings.log_to_standard_error()
            tidings.parser.warm_up()
            tidings.mailbox_holding()
            tidings.close()
            print(json.dumps(sorted(sys.modules)))
        """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "tidings.bootstrap" in modules
    loaded = [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in NOT_IN_A_WORKER)]
    assert sorted(loaded) == []
