"""Settings read from the environment (``TIDINGS_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
import pydantic_core
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tidings.domain.errors import ConfigurationError

#: The databases Tidings runs on and the driver each is reached through, as SQLAlchemy
#: names them.
DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}
DATABASE_URL_FORMS = "sqlite:///path/to/tidings.db or postgresql+psycopg://user@host/database"


class Settings(BaseSettings):
    """How this Tidings process is set up; organization settings live in the database."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{Path('var') / 'tidings.db'}",
        description="SQLAlchemy URL: SQLite (the default) or postgresql+psycopg://…",
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Database connections each process keeps open for its storage work",
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Database connections a process may open beyond the pool at busy times, "
        "closed again when returned",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to")
    port: int = Field(
        default=8025,
        ge=0,
        le=65535,
        description="Port the HTTP server listens on (0: a free one, which the log names)",
    )
    secret_keys: str | None = Field(
        default=None,
        description="Fernet keys that encrypt stored credentials, comma-separated, newest "
        "first (default: a key file created on first use)",
    )
    secret_key_file: Path = Field(
        default=Path("var") / "secret.key",
        description="Where the credential key is kept when TIDINGS_SECRET_KEYS is not set",
    )
    webhook_retention_days: int = Field(
        default=30,
        ge=1,
        description="Days a finished webhook delivery (delivered or given up) stays visible",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per log line, with secrets and email content left "
        "out (for log collectors)",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The HTTPS address people reach Tidings at, such as https://crm.example.com "
        "(default: the address of each request); the App for Outlook's manifest points there",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private, link-local and other non-global "
        "addresses (receivers on the server's own network)",
    )
    password_hashing: Literal["rfc9106-low-memory", "rfc9106-high-memory", "cheapest"] = Field(
        default="rfc9106-low-memory",
        description="Argon2id cost of console passwords: RFC 9106's low-memory (64 MiB, "
        "the default) or high-memory (2 GiB) choice; cheapest is for test suites only, never "
        "for real passwords. Existing passwords are rehashed at their next sign-in",
    )
    parse_workers: int | None = Field(
        default=None,
        ge=0,
        description="Processes that parse email beside the main one (default: one per core; "
        "0 or 1 parses in the main process)",
    )
    parse_idle_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Seconds without email to parse after which the parse processes stop; "
        "they start again with the next. 0 starts them with the worker and keeps them",
    )
    task_queue_pool_size: int = Field(
        default=8,
        ge=2,
        le=1000,
        description="On PostgreSQL: connections each worker's task queue may hold at once "
        "(its job fetching, heartbeats, periodic chores and deferrals), beside the storage pool",
    )
    job_retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="On PostgreSQL: days a finished job of the workers' task queue (an email "
        "sent, a webhook delivered, a test run, each that failed for good) is kept before it "
        "is deleted; waiting and running jobs are always kept",
    )
    takeover_seconds: float = Field(
        default=60.0,
        ge=6.0,
        description="On PostgreSQL, where workers share the mailboxes: at most this long after "
        "a worker dies without stopping (killed, its host lost), its mailboxes sync on "
        "another worker",
    )
    retry_first_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The first wait before a failed send of an email (on PostgreSQL) or a "
        "failed webhook delivery is tried again; each further wait doubles, up to an hour",
    )
    send_attempts: int = Field(
        default=10,
        ge=1,
        description="Tries at sending one email before a transient failure (the server "
        "unreachable, busy) fails it for good",
    )

    @field_validator("database_url")
    @classmethod
    def _names_a_database(cls, value: str) -> str:
        # Here rather than when the engine is made: a typo then gave a traceback. The URL
        # is never repeated in the message (it may hold a password).
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
            backend = url.get_backend_name()
            driver = url.get_driver_name() if backend in DRIVERS else ""
        except (ArgumentError, ValueError):
            raise ValueError(f"not a database URL: write {DATABASE_URL_FORMS}") from None
        if backend == "postgres":
            raise ValueError("write postgresql+psycopg://… (SQLAlchemy's name), not postgres://…")
        if backend not in DRIVERS:
            raise ValueError(
                f"only SQLite and PostgreSQL are supported, not {backend}: "
                f"write {DATABASE_URL_FORMS}"
            )
        if driver != DRIVERS[backend]:
            raise ValueError(
                f"{backend} is reached through {DRIVERS[backend]}, not {driver}: "
                f"write {DATABASE_URL_FORMS}"
            )
        return value


def read_settings() -> Settings:
    """The settings of this process, or a ``ConfigurationError`` naming every wrong one."""
    try:
        return Settings()
    except pydantic.ValidationError as error:
        problems = [_problem(e) for e in error.errors(include_input=False, include_url=False)]
        raise ConfigurationError("; ".join(problems)) from None


def _problem(error: pydantic_core.ErrorDetails) -> str:
    """One wrong setting: its variable and what it takes."""
    field = str(error["loc"][0]) if error["loc"] else ""
    variable = f"TIDINGS_{field.upper()}" if field else "the settings"
    message = error["msg"].removeprefix("Value error, ")
    return f"{variable}: {message[:1].lower()}{message[1:]}"
