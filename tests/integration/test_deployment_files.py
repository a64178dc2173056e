"""The files shipped for production (deploy/) and the deployment guide agree with the code.

- The systemd units pass ``systemd-analyze verify``, which says nothing of a unit that is
  wrong in its exit status: it warns about an unknown key or a value it cannot parse and
  carries on. So any line it writes about a Tidings unit fails the test. It also refuses a
  unit whose ``ExecStart=`` program does not exist, and Tidings is not installed in
  /opt/tidings here: the units are copied to a temporary folder with that path rewritten to
  this checkout's ``tidings`` (installed by ``make env``), and verified there.
- Every metric the Grafana dashboard queries is one that a running Tidings exports at
  /metrics, read as Prometheus reads it.
- Every setting Tidings reads from the environment, and every metric it exports, is named
  in docs/deployment.md, so the guide cannot fall behind the code.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org, make_email
from tidings.config import Settings
from tidings.entrypoints.api.app import create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
DASHBOARD = DEPLOY / "grafana" / "tidings.json"
ENV_EXAMPLE = DEPLOY / "systemd" / "tidings.env.example"
GUIDE = ROOT / "docs" / "deployment.md"
#: Where the units expect Tidings: a checkout in /opt/tidings with its ``make env`` venv.
INSTALLED = "/opt/tidings/.venv/bin/tidings"
#: A metric name as PromQL writes it (Tidings' all begin so).
METRIC = re.compile(r"\btidings_[a-z0-9_]+\b")
ENV_NAME = re.compile(r"\bTIDINGS_[A-Z0-9_]+\b")


def test_the_units_are_the_web_server_the_worker_and_the_migrations() -> None:
    names = {unit.name for unit in UNITS}
    assert names == {"tidings-web.service", "tidings-worker.service", "tidings-migrate.service"}
    for unit in UNITS:
        text = unit.read_text()
        assert "EnvironmentFile=/etc/tidings/tidings.env" in text
        assert f"ExecStart={INSTALLED} " in text
        assert "User=tidings" in text


def _verify(units: list[Path]) -> list[str]:
    """What ``systemd-analyze verify`` says about ``units``, which it must accept."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: `make servers` installs it"
    result = subprocess.run(
        [analyze, "verify", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(unit.name in line for unit in units)
    ]


def test_systemd_verifies_every_unit_without_a_word(tmp_path: Path) -> None:
    tidings = ROOT / ".venv" / "bin" / "tidings"
    assert tidings.exists(), "`make env` installs the tidings command"
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(INSTALLED, str(tidings)))
        copies.append(copy)
    assert _verify(copies) == []


def test_a_unit_with_a_mistake_is_caught(tmp_path: Path) -> None:
    # The check above must be able to fail: verify's warnings are what it looks for.
    unit = tmp_path / "tidings-broken.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nRestart=sometimes\nKillSignl=SIGTERM\n")
    said = _verify([unit])
    assert [line for line in said if f"{unit.name}:3:" in line]  # Restart's value
    assert [line for line in said if f"{unit.name}:4:" in line]  # the misspelt key


def _exported_names(text: str) -> set[str]:
    """The series names in Prometheus' text format, as PromQL queries them: a counter's
    ``# TYPE`` line already names its ``_total`` series, and a family without samples yet
    is still declared there."""
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    sampled = {line.split("{")[0].split()[0] for line in text.splitlines() if line[:1].isalpha()}
    return declared | sampled


@pytest.fixture
def exported(org: Org) -> set[str]:
    """What a running Tidings serves at /metrics, with email decided so that families carry
    samples."""
    org.deliver(make_email())
    answer = admin_client(org).get("/metrics")
    assert answer.status_code == 200
    return _exported_names(answer.text)


def _queries(dashboard: dict[str, object]) -> list[str]:
    """Every PromQL text of the dashboard: its panels' targets and its variables' queries."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition", "query") and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_dashboard_queries_only_metrics_that_tidings_exports(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for query in _queries(dashboard) for name in METRIC.findall(query)}
    assert queried, "the dashboard queries no Tidings metric"
    assert queried - exported == set()
    # Every figure Tidings exports has a panel.
    assert {name for name in exported if name.startswith("tidings_")} - queried == set()
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Sync workers", "Send queue", "Sync lag, worst mailboxes"} <= titles


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_guide_names_every_metric_tidings_exports(exported: set[str]) -> None:
    guide = GUIDE.read_text()
    missing = {n for n in exported if n.startswith("tidings_") and f"`{n}`" not in guide}
    assert missing == set()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_guides_monitoring_role_may_scrape_metrics_and_nothing_more(org: Org) -> None:
    # As the guide says: a role holding only read_mailboxes, and a user of its own.
    admin = admin_client(org)
    role = admin.post("/api/roles", json={"name": "Monitoring", "privileges": ["read_mailboxes"]})
    assert role.status_code == 201
    user = {
        "full_name": "Prometheus",
        "email": "prometheus@northwind.example",
        "password": "a long monitoring password",
        "role_ids": [role.json()["id"]],
    }
    assert admin.post("/api/users", json=user).status_code == 201
    monitor = TestClient(create_app(org.tidings))
    monitor.auth = (user["email"], user["password"])
    assert monitor.get("/metrics").status_code == 200
    assert monitor.get("/api/activities").status_code == 403


def _settings_read_by_tidings() -> set[str]:
    """The environment variables Tidings reads: each field of ``Settings`` under its prefix,
    and any ``TIDINGS_…`` name the code spells out."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    for source in (ROOT / "src").rglob("*.py"):
        names |= set(ENV_NAME.findall(source.read_text()))
    return names


def test_the_guide_names_every_setting_tidings_reads() -> None:
    names = _settings_read_by_tidings()
    assert {"TIDINGS_DATABASE_URL", "TIDINGS_SECRET_KEYS", "TIDINGS_LOG_FORMAT"} <= names
    guide = GUIDE.read_text()
    assert {name for name in names if f"`{name}`" not in guide} == set()


def test_the_example_environment_file_names_only_real_settings() -> None:
    named = set(ENV_NAME.findall(ENV_EXAMPLE.read_text()))
    assert "TIDINGS_DATABASE_URL" in named
    assert named - _settings_read_by_tidings() == set()
