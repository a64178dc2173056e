"""schemathesis against the OpenAPI document: every operation, signed in as an admin over
the test organization, answers without a server error and as its schema says, both for
data the schema allows and for data it forbids."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from tests.api_client import ADMIN
from tests.builders import Org
from tidings.entrypoints.api.app import create_app

#: Examples per operation and mode: enough to reach every parameter, short for the suite.
EXAMPLES = 12

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]


@schemathesis.serializer("text/csv", "application/x-ndjson")
def _as_text(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    # The import bodies are documented as strings; send them as they are.
    return value.encode() if isinstance(value, str) else str(value).encode()


def test_every_operation_answers_as_documented(org: Org) -> None:
    # Each operation in turn; failures are gathered so one run shows them all.
    # The suite hashes passwords at the cheapest cost (conftest): hundreds of sign-ins here.
    org.tidings.setup.add_user("Ada Admin", ADMIN[0], ["admin"], ADMIN[1])
    app = create_app(org.tidings)
    # Built (and kept by FastAPI) before the loader asks: on a busy machine building it can
    # take longer than the loader's ten seconds.
    app.openapi()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        # Without parameters or a body nothing can be invalid: positive data only.
        can_be_wrong = bool(operation.path_parameters or operation.query or operation.body)
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * can_be_wrong
        rounds = [(mode, None) for mode in modes]
        # Random ids are nearly always unknown: also aim at the records the org holds.
        names = [p.name for p in operation.path_parameters]
        if names:
            rounds.append((GenerationMode.POSITIVE, dict.fromkeys(names, 1)))
        for mode, path in rounds:
            try:
                _exercise(operation, mode, path)
            except Exception as error:
                failures.append(f"{operation.label} ({mode.value}, {path}): {error}")
    assert failures == []


def _exercise(operation: Any, mode: GenerationMode, path: dict[str, int] | None) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: Any) -> None:
        # /readyz documents 503 as its answer while no sync worker runs, as in this test.
        checks = [c for c in CHECKS if c is not st_checks.not_a_server_error or not _readyz]
        case.call_and_validate(auth=ADMIN, checks=checks)

    _readyz = operation.path == "/readyz"

    run()
