"""Every HTTP route an app serves, read from the app itself (FastAPI keeps included routers
nested), so that walks over all routes cover routes added later."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def all_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every GET and POST (and other) method of every route."""
    found = []
    for path, route in _walk(app.routes, ""):
        found += [(method, path, route) for method in sorted(route.methods)]
    return found


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route
