"""Settings read from the environment: a value out of range is refused at start-up, naming
the setting, rather than running with it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tidings.config import Settings


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
