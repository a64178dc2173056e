"""Fixtures of the sync tests: a Dovecot of their own and an organization using it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.builders import Org, TickingClock, dovecot_profile
from tests.conftest import settings_for
from tests.integration.sync_run import USERS, SyncRun
from tests.servers.dovecot import DovecotServer
from tidings.bootstrap import bootstrap


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DovecotServer]:
    # A Dovecot of its own per test: cursors start empty, so mail must too.
    with DovecotServer(tmp_path / "dovecot", USERS) as running:
        yield running


@pytest.fixture
def sync_org(server: DovecotServer, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    holder: dict[str, SyncRun] = {}
    tidings = bootstrap(
        # Ticking from the real time: the CLI, run beside, judges the worker by its own clock.
        settings_for(database_url),
        TickingClock(datetime.now(UTC)),
        listener=lambda e: holder["run"].listen(e),
    )
    holder["run"] = run = SyncRun(tidings)
    org = Org.create(tidings)
    org.add_user("sam")
    org.use_profile(dovecot_profile(server), {"dana": "dana-pass", "sam": "sam-pass"})
    yield org, run
    run.stop()
    tidings.close()
