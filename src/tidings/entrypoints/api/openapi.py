"""The OpenAPI document says what every operation really answers on error: RFC 9457
problem details (``application/problem+json``), not FastAPI's default 422 shape."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_ERRORS = {
    "400": "The request breaks a rule; the detail says which",
    "401": "Not signed in",
    "403": "The caller's security roles lack the privilege",
    "404": "No such record",
    "409": "Conflicts with existing data",
    "422": "Invalid parameters or body",
    "429": "Too many failed sign-ins for the account; Retry-After says when to try again",
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the problem-details answers of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})
            schema["components"]["schemas"]["Problem"] = PROBLEM_SCHEMA
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/api/"):
                    for operation in operations.values():
                        _add_problems(operation["responses"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problems(responses: dict[str, Any]) -> None:
    for code, description in _ERRORS.items():
        current = responses.get(code)
        documented = current is not None and "HTTPValidationError" not in str(current)
        if not documented:
            responses[code] = {
                "description": description,
                "content": {"application/problem+json": {"schema": _PROBLEM_REF}},
            }
