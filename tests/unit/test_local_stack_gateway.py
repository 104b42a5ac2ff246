"""The local gateway decodes a request's path once, as an HTTP API does: routes match the decoded path, and the
function gets `pathParameters` decoded (and `rawPath` percent-encoded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infra.local_stack.gateway import Gateway, Route, decode_path


class Echo:
    """A function that answers with what it was given."""

    logical_id = "EchoFunction"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        body = {"pathParameters": event["pathParameters"], "rawPath": event["rawPath"]}
        return {"statusCode": 200, "body": json.dumps(body)}


@contextmanager
def gateway() -> Iterator[Gateway]:
    """The gateway on a loopback port of its own, as the local stack starts it, routing to Echo; nothing connects
    to it (the tests call `dispatch`, what its request handler calls). No token route: no issuer, no verifier."""
    local = Gateway("127.0.0.1", 0)
    route = Route.build("PUT", "/admin/users/{user_id}/links", Echo(), authorized=False)  # type: ignore[arg-type]
    local.serve([route], None, None)  # type: ignore[arg-type]
    try:
        yield local
    finally:
        local.stop()


def put(target: str) -> tuple[int, Any]:
    with gateway() as local:
        status, _, payload = local.dispatch("PUT", target, {}, b"", "127.0.0.1")
    return status, json.loads(payload)


@pytest.mark.parametrize(
    ("target", "user_id", "raw_path"),
    [
        ("/admin/users/taro.yamada%40acme.example/links", "taro.yamada@acme.example", None),
        ("/admin/users/taro.yamada@acme.example/links", "taro.yamada@acme.example", None),
        ("/admin/users/%E5%B1%B1%E7%94%B0/links", "山田", None),
        # http.server reads the request line as ISO-8859-1: raw UTF-8 bytes arrive as these characters
        (
            "/admin/users/" + "山田".encode().decode("latin-1") + "/links",
            "山田",
            "/admin/users/%E5%B1%B1%E7%94%B0/links",
        ),
        ("/admin/users/100%2525/links", "100%25", None),  # decoded once
        ("/admin/users/a%20b/links?x=1", "a b", None),
    ],
    ids=["%40", "@", "non-ASCII encoded", "non-ASCII raw", "once", "space"],
)
def test_path_parameters_reach_the_function_decoded_once(target: str, user_id: str, raw_path: str | None) -> None:
    status, seen = put(target)
    assert status == 200
    assert seen["pathParameters"] == {"user_id": user_id}
    assert seen["rawPath"] == (raw_path or target.split("?")[0])


@pytest.mark.parametrize(
    "target",
    ["/admin/users/a%2Fb/links", "/admin/users/x/links%0A"],
    ids=["an encoded slash is a segment more", "a trailing newline"],
)
def test_routes_match_the_decoded_path(target: str) -> None:
    # An HTTP API decodes before it routes: an encoded "/" separates segments, so no route matches
    assert put(target) == (404, {"message": "Not Found"})


def test_a_path_that_is_not_percent_encoded_utf8_is_a_400() -> None:
    assert put("/admin/users/%FF/links") == (400, {"message": "Bad Request"})


def test_decode_path_keeps_escapes_as_received_in_the_raw_path() -> None:
    assert decode_path("/a%40b/%E5%B1%B1") == ("/a@b/山", "/a%40b/%E5%B1%B1")
