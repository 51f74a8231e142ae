"""The OpenAPI description against the code: every route described, nothing else.

The route table is the app's own (``create_app().routes``), so a route added anywhere
(a new module's ROUTES included) fails here until ``liveblog/web/openapi.py`` describes
it. The fuzzing against a real server is ``tests/e2e/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from schemathesis.core.result import Ok
from starlette.routing import Route

from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.inputs import QUERY_NAMES
from liveblog.web.openapi import DESCRIPTION, WEBSOCKET_PATHS
from liveblog.web.stream import live_story_ref

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def routes() -> list[Route]:
    app = create_app(Settings(database_url="memory://"))
    found = []
    for route in app.routes:
        # Only plain routes today: a Mount or a WebSocketRoute would need walking too.
        assert isinstance(route, Route), f"the test does not know how to walk {route!r}"
        found.append(route)
    return found


def routed_operations() -> dict[tuple[str, str], Route]:
    """(path, method) → route, for every method of every route (HEAD is Starlette's)."""
    return {
        (route.path, method.lower()): route
        for route in routes()
        for method in route.methods or ()
        if method != "HEAD"
    }


def described_operations() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DESCRIPTION["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_described_and_every_description_is_a_route() -> None:
    routed = set(routed_operations())
    described = described_operations()

    assert sorted(routed - described) == [], "routes missing from liveblog/web/openapi.py"
    assert sorted(described - routed) == [], "described operations with no route"


def test_the_unrouted_live_websocket_is_described_and_matched_before_routing() -> None:
    for path in WEBSOCKET_PATHS:
        assert (path, "get") in described_operations()
        concrete = path.replace("{story}", "some-story")
        assert live_story_ref({"type": "websocket", "path": concrete}) == "some-story"


def test_each_operation_lists_the_query_parameters_its_endpoint_accepts() -> None:
    for (path, method), route in sorted(routed_operations().items()):
        assert route.endpoint in QUERY_NAMES, f"{method} {path}: no @accepts_query"
        params = DESCRIPTION["paths"][path][method]["parameters"]
        described = {p["name"] for p in params if p["in"] == "query"}
        assert described == QUERY_NAMES[route.endpoint], f"{method} {path}"


def test_path_parameters_match_the_route_templates() -> None:
    for path, item in DESCRIPTION["paths"].items():
        in_template = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            described = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert described == in_template, f"{method} {path}"


def test_the_description_loads_as_openapi_3_1_with_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(DESCRIPTION)
    loaded = list(schema.get_all_operations())

    assert all(isinstance(result, Ok) for result in loaded), loaded
    assert len(loaded) == len(described_operations())
    assert DESCRIPTION["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    "name", ["Story", "Update", "Error", "Me", "PersonAccount", "Token", "NewToken"]
)
def test_the_design_shapes_are_components(name: str) -> None:
    assert name in DESCRIPTION["components"]["schemas"]


def test_people_and_token_routes_say_who_may_call_them() -> None:
    for path, item in DESCRIPTION["paths"].items():
        if not path.startswith(("/api/people", "/api/tokens")):
            continue
        for method, operation in item.items():
            assert operation["security"] == [{"bearer": []}], f"{method} {path}"
            assert "admin role" in operation["description"], f"{method} {path}"
    me = DESCRIPTION["paths"]["/api/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "whatever its role" in me["description"]


def test_only_a_new_token_carries_its_secret() -> None:
    schemas = DESCRIPTION["components"]["schemas"]
    assert "secret" not in schemas["Token"]["properties"]
    assert "secret" in schemas["NewToken"]["allOf"][1]["required"]
    issue = DESCRIPTION["paths"]["/api/people/{person}/tokens"]["post"]
    # No body at all is a token that never expires (tests/e2e/test_people.py).
    assert issue["requestBody"]["required"] is False
    assert (
        issue["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"]
        is False
    )
