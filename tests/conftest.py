"""Fixtures: real databases (SQLite and PostgreSQL), a Tidings wired to them, email builders.

The schema is migrated once per run into a template (a SQLite file, a PostgreSQL template
database); each test gets its own copy, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.builders import Org, TickingClock
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import Tidings, bootstrap
from tidings.config import Settings

pytest_plugins = ["tests.servers.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    # pytest's default base directory is shared by every run of the same user and prunes old
    # runs' directories, so two suites on one machine would delete each other's Dovecot and
    # databases. Each run gets its own directory instead, removed when the run passes.
    # Short ("/tmp/td-xxxxxxxx"): under pytest-xdist each worker's directories sit one level
    # deeper (popen-gw0/), and Dovecot's socket paths must stay under 80 characters.
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="td-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests marked ``serial`` share one pytest-xdist group: they run one after another on a
    # single worker (``--dist loadgroup``), never beside each other.
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None and config.stash.get(_RUN_PASSED, False):
        shutil.rmtree(own, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_RUN_PASSED] = exitstatus == 0


_OWN_BASETEMP = pytest.StashKey[str]()
_RUN_PASSED = pytest.StashKey[bool]()

# One width for every run: the command line's tables are drawn by rich, which truncates
# cells to the terminal's width, and pytest-xdist workers are told COLUMNS=80.
os.environ["COLUMNS"] = "250"
# Argon2 at its real cost takes 64 MiB and a tenth of a second or more per sign-in: the
# suite, its ``tidings`` processes included, hashes at the cheapest cost instead.
# test_passwords.py checks the real costs.
os.environ.setdefault("TIDINGS_PASSWORD_HASHING", "cheapest")

POSTGRES_ADMIN = os.environ.get(
    "TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_url(database: str) -> str:
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


def _pg_admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tidings.db"
    upgrade(f"sqlite:///{path}")
    return path


def _drop_leftovers() -> None:
    """Drop the databases of test runs that were killed before they could (their names
    carry the pid of the run; a live pid is another suite running beside this one).

    Under pytest-xdist each worker is a process of its own: its template and databases
    carry its pid, so a worker never drops those of another worker while it lives.
    """
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname ~ '^tidings_(tmpl|t)_[0-9]+(_|$)'"
            )
        ]
    for name in names:
        pid = int(name.split("_")[2])
        if not _alive(pid):
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresDatabases:
    """Per-test databases cloned from the template by a thread of their own, one at a time:
    the next test's database is made, and the last test's dropped, while a test runs.

    Creating a database copies the template through the write-ahead log and dropping one
    removes its files: seconds each on a busy machine, which no test needs to wait for.
    """

    def __init__(self, template: str) -> None:
        self._template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._chores: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="test-databases", daemon=True)
        self._thread.start()
        self._chores.put(self._make_next)

    def take(self) -> str:
        """A freshly cloned database, yours until ``give_back``."""
        made = self._ready.get(timeout=300)
        self._chores.put(self._make_next)
        if isinstance(made, BaseException):
            raise made
        return made

    def give_back(self, name: str) -> None:
        self._chores.put(functools.partial(_drop_database, name))

    def close(self) -> None:
        """Drop what is left, once every chore queued before is done."""
        self._chores.put(None)
        self._thread.join(timeout=300)
        while not self._ready.empty():
            made = self._ready.get()
            if isinstance(made, str):
                _drop_database(made)

    def _make_next(self) -> None:
        name = f"tidings_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        try:
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        except BaseException as error:  # the test that takes it fails with it
            self._ready.put(error)
        else:
            self._ready.put(name)

    def _work(self) -> None:
        while (chore := self._chores.get()) is not None:
            # A drop that failed leaves a leftover, dropped by a later run (_drop_leftovers).
            with contextlib.suppress(Exception):
                chore()


def _drop_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    _drop_leftovers()
    name = f"tidings_tmpl_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_admin(f'CREATE DATABASE "{name}"')
    upgrade(_pg_url(name))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_template)
    yield databases
    databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each supported kind."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tidings.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take()
    yield _pg_url(name)
    databases.give_back(name)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A freshly migrated SQLite database only, for tests about files and processes."""
    path = tmp_path / "tidings.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


TEST_SECRET_KEY = Fernet.generate_key().decode()


def settings_for(database_url: str, **overrides: object) -> Settings:
    """Settings for a test: its own database, a throwaway credential key, parsing in-process."""
    values: dict[str, object] = {
        "database_url": database_url,
        "parse_workers": 0,
        "secret_keys": TEST_SECRET_KEY,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def tidings(database_url: str) -> Iterator[Tidings]:
    # Parsing in-process keeps each test's database work and its parsing in one place;
    # test_parsing_pool.py runs the same pipeline through worker processes.
    app = bootstrap(settings_for(database_url), clock=TickingClock())
    yield app
    app.close()


@pytest.fixture
def org(tidings: Tidings) -> Org:
    """A small organization: settings, roles, a tracking user with an enabled mailbox, records."""
    return Org.create(tidings)


DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return DATA / "corpus"
