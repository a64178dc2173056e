"""Every API route walked with hostile values, as the console's are
(test_console_hostile_input.py): huge and negative numbers, 100,000-character strings, NUL
and markup in the path, the query and each field of the body. No server error; every refusal
is a problem document, never a page; ids beyond the databases' range are refused before any
query. (test_api_schema.py walks the same routes with schemathesis' generated data.)"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api_client import ADMIN
from tests.builders import Org
from tests.routes import all_routes
from tidings.entrypoints.api.app import create_app

HUGE = 99999999999999999999
MARKUP = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
HOSTILE: tuple[object, ...] = (HUGE, -1, "x" * 100_000, "a\x00b", *MARKUP)
HOSTILE_IN_PATH = (str(HUGE), "-1", "0", "x" * 8_000, "a%00b", "%3Cscript%3E")
#: The documentation pages take no input.
UNDOCUMENTED = ("/api/docs", "/api/openapi.json")
#: Change notifications answer the mail vendors in plain text, as they expect.
PLAIN_TEXT = "/api/push/"


@pytest.fixture
def api(org: Org) -> TestClient:
    # Signs in with every request: at the suite's cheapest Argon2id cost (conftest).
    org.tidings.setup.add_user("Ada Admin", ADMIN[0], ["admin"], ADMIN[1])
    client = TestClient(create_app(org.tidings))
    client.auth = ADMIN
    return client


def _check(answer, where: str) -> None:
    assert answer.status_code < 500, f"{where}: {answer.status_code}\n{answer.text[-2000:]}"
    if answer.status_code >= 400 and not where.split()[1].startswith(PLAIN_TEXT):
        kind = answer.headers.get("content-type", "")
        assert kind.startswith(("application/problem+json", "application/json")), where


def _body_names(route) -> list[str]:
    field = route.body_field
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(annotation, "model_fields", None)
    return list(fields) if fields else []


def test_every_api_route_survives_hostile_values(api: TestClient) -> None:
    app = api.app
    assert isinstance(app, FastAPI)
    routes = [
        (method, path, route)
        for method, path, route in all_routes(app)
        if path.startswith("/api/") and not path.startswith(UNDOCUMENTED) and method != "HEAD"
    ]
    assert len(routes) > 40
    walked = 0
    for method, path, route in routes:
        params = [p.alias for p in route.dependant.query_params]
        names = _body_names(route)
        if "{" in path:
            for value in HOSTILE_IN_PATH:
                url = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", value, path)
                answer = api.request(method, url, json={})
                _check(answer, f"{method} {url[:80]}")
                if value in (str(HUGE), "-1", "0") and path.endswith("_id}"):
                    assert answer.status_code in (404, 422), f"{method} {url}"
        url = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "1", path)
        for value in HOSTILE:
            short = isinstance(value, int) or len(value) < 10_000
            query = dict.fromkeys(params, value) if short else {}
            if names:
                answer = api.request(method, url, params=query, json=dict.fromkeys(names, value))
            elif route.body_field is not None or method in ("POST", "PUT", "PATCH"):
                answer = api.request(method, url, params=query, content=str(value).encode())
            else:
                answer = api.request(method, url, params=query)
            _check(answer, f"{method} {path} with {str(value)[:30]!r}")
            walked += 1
    assert walked > 200
