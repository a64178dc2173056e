"""Settings read from the environment: a value out of range, a database URL Tidings cannot
use or a key that is no key is refused at start-up, naming the setting (never repeating
its value, which may hold a password), rather than running with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tidings.adapters.secrets import FernetSecretBox
from tidings.config import Settings, read_settings
from tidings.domain.errors import ConfigurationError, SecretError


def test_finished_jobs_are_kept_a_week_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIDINGS_JOB_RETENTION_DAYS", raising=False)
    assert Settings(_env_file=None).job_retention_days == 7
    monkeypatch.setenv("TIDINGS_JOB_RETENTION_DAYS", "30")
    assert Settings(_env_file=None).job_retention_days == 30


@pytest.mark.parametrize("days", ["0", "-1", "3651", "a week", "1.5"])
def test_a_job_retention_that_is_not_a_whole_number_of_days_is_refused(
    monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("TIDINGS_JOB_RETENTION_DAYS", days)
    with pytest.raises(ValidationError, match="job_retention_days"):
        Settings(_env_file=None)


@pytest.fixture
def no_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings read from the environment alone: no ``.env`` in the working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("foo", "not a database URL"),
        ("postgres ql://nobody@host/db", "not a database URL"),
        ("mysql://admin:hunter2@db.example/tidings", "not mysql"),
        ("mssql+pyodbc://admin:hunter2@db.example/tidings", "not mssql"),
        ("postgres://admin:hunter2@db.example/tidings", "not postgres://"),
        ("postgresql+asyncpg://admin:hunter2@db.example/tidings", "not asyncpg"),
        ("sqlite+pysqlcipher://:hunter2@/tidings.db", "not pysqlcipher"),
    ],
)
@pytest.mark.usefixtures("no_env_file")
def test_a_database_url_tidings_cannot_use_is_refused_naming_the_setting_not_the_url(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv("TIDINGS_DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as refused:
        read_settings()

    assert str(refused.value).startswith("TIDINGS_DATABASE_URL: ")
    assert said in str(refused.value)
    assert "hunter2" not in str(refused.value)  # a URL may hold the database password
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/tidings.db",
        "sqlite://",
        "postgresql+psycopg://tidings@db.example/tidings",
        "postgresql://tidings@db.example/tidings",
    ],
)
@pytest.mark.usefixtures("no_env_file")
def test_the_databases_tidings_runs_on_are_accepted(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("TIDINGS_DATABASE_URL", url)
    assert read_settings().database_url == url


@pytest.mark.usefixtures("no_env_file")
def test_every_wrong_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_PARSE_WORKERS", "two")
    monkeypatch.setenv("TIDINGS_DATABASE_POOL_SIZE", "0")
    monkeypatch.setenv("TIDINGS_PORT", "70000")
    with pytest.raises(ConfigurationError) as refused:
        read_settings()

    said = str(refused.value)
    assert "TIDINGS_PORT: input should be less than or equal to 65535" in said
    assert "TIDINGS_PARSE_WORKERS: input should be a valid integer" in said
    assert "TIDINGS_DATABASE_POOL_SIZE: input should be greater than or equal to 1" in said
    assert "two" not in said.replace("TIDINGS_", "")


def test_a_key_that_is_no_fernet_key_is_refused_naming_where_it_is_not_what_it_is(
    tmp_path: Path,
) -> None:
    good = FernetSecretBox.new_key()
    with pytest.raises(SecretError) as from_variable:
        FernetSecretBox.from_environment(f"{good}, not-a-key-at-all", tmp_path / "unused")
    assert str(from_variable.value).startswith(
        "encryption key 2 of 2 in TIDINGS_SECRET_KEYS is not a Fernet key"
    )
    assert "not-a-key-at-all" not in str(from_variable.value)

    key_file = tmp_path / "secret.key"
    key_file.write_text("a key mangled by an editor\n")
    with pytest.raises(SecretError, match=f"encryption key 1 of 6 in {key_file} is not"):
        FernetSecretBox.from_environment(None, key_file)
