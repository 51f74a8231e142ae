"""Reading request headers: every value is a clean number or a 4xx, never an exception
that would escape as a 500. Headers arrive as latin-1 text, so "²" (0xB2) can be in them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from liveblog.web.errors import ApiError
from liveblog.web.inputs import if_match_number, read_json_object


def request_with(*headers: tuple[str, str], body: bytes = b"{}") -> Request:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}
    return Request(scope, receive)


@pytest.mark.parametrize(
    ("value", "number"),
    [('"r3"', 3), ("r3", 3), ('W/"r12"', 12), ('"r' + "9" * 18 + '"', 10**18 - 1)],
)
def test_if_match_of_our_shape_is_its_number(value: str, number: int) -> None:
    assert if_match_number(request_with(("if-match", value)), "r") == number


def test_no_if_match_is_no_condition() -> None:
    assert if_match_number(request_with(), "r") is None


@pytest.mark.parametrize(
    "value", ['"r²"', '"r¹"', '"r1²"', '"r' + "9" * 19 + '"', '"r' + "9" * 5_000 + '"']
)
def test_if_match_no_revision_can_have_fails_the_precondition(value: str) -> None:
    with pytest.raises(ApiError) as raised:
        if_match_number(request_with(("if-match", value)), "r")
    assert (raised.value.status, raised.value.code) == (412, "precondition_failed")


@pytest.mark.parametrize("value", ["three", '"v3"', '"r"', '""', '"r-1"', '"r 1"', "*"])
def test_another_if_match_is_a_bad_request(value: str) -> None:
    with pytest.raises(ApiError) as raised:
        if_match_number(request_with(("if-match", value)), "r")
    assert (raised.value.status, raised.value.code) == (400, "bad_request")


@pytest.mark.parametrize(
    ("length", "status"), [("²", 400), ("1²", 400), ("-1", 400), ("9" * 5_000, 413)]
)
async def test_a_content_length_that_is_no_small_ascii_number_is_a_4xx(
    length: str, status: int
) -> None:
    request = request_with(("content-type", "application/json"), ("content-length", length))
    with pytest.raises(ApiError) as raised:
        await read_json_object(request, {"title"})
    assert raised.value.status == status


async def test_a_plain_content_length_reads_the_body() -> None:
    request = request_with(
        ("content-type", "application/json"), ("content-length", "14"), body=b'{"title": "t"}'
    )
    assert await read_json_object(request, {"title"}) == {"title": "t"}
