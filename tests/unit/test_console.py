"""The web console's serving function: what it serves, with which headers, and what it refuses."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from infra.local_stack.gateway import Gateway, Route
from infra.template import ROOT
from workplace_hub.catalog import Integration
from workplace_hub.console import ConsoleSite, InvalidFrameAncestorsError, load_assets
from workplace_hub.integration_settings.specs import FIELD_SPECS

ASSETS = ROOT / "functions/console/assets"
WORKPLACE = "https://acme.workplace.example"


@pytest.fixture(scope="module")
def site() -> ConsoleSite:
    return ConsoleSite(load_assets(ASSETS), WORKPLACE)


def get(site: ConsoleSite, proxy: str | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    route = "GET /console/{proxy+}" if proxy is not None else "GET /console/"
    event = {"routeKey": route, "pathParameters": {"proxy": proxy} if proxy is not None else None}
    return site.respond({**event, "headers": headers or {}})


def body(answer: dict[str, Any]) -> bytes:
    return base64.b64decode(answer["body"]) if answer["isBase64Encoded"] else answer["body"].encode()


def test_the_index_is_served_as_html_with_a_csp_without_inline_script_framed_only_by_workplace(
    site: ConsoleSite,
) -> None:
    answer = get(site, None)

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    csp = dict(part.strip().split(" ", 1) for part in answer["headers"]["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == WORKPLACE
    assert "unsafe" not in answer["headers"]["Content-Security-Policy"]
    assert answer["headers"]["Referrer-Policy"] == "no-referrer"
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert b"<title>" in body(answer)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("fields.json", "application/json; charset=utf-8"),
        ("vendor/qrcode-generator/qrcode.js", "text/javascript; charset=utf-8"),
    ],
)
def test_each_asset_has_its_content_type_and_an_etag_to_revalidate(
    site: ConsoleSite, path: str, content_type: str
) -> None:
    answer = get(site, path)

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == content_type
    assert body(answer) == (ASSETS / path).read_bytes()
    assert answer["headers"]["Cache-Control"] == "no-cache"
    again = get(site, path, {"If-None-Match": answer["headers"]["ETag"]})
    assert again["statusCode"] == 304 and body(again) == b""


@pytest.mark.parametrize(
    "path",
    [
        "../../template.yaml",
        "../app.py",
        "js/../../app.py",
        "..%2fapp.py",
        "/etc/passwd",
        "js\\main.js",
        ".gitignore",
        "js/.main.js",
        "vendor/qrcode-generator/LICENSE",  # ships beside its library, but is no page
        "nope.html",
        "js/main.js/",
    ],
)
def test_a_path_outside_the_assets_or_unknown_is_a_404(site: ConsoleSite, path: str) -> None:
    answer = get(site, path)

    assert answer["statusCode"] == 404
    assert body(answer) == b"Not Found"
    assert "Content-Security-Policy" in answer["headers"]


def test_no_file_outside_the_assets_folder_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.json").write_text("{}")
    (tmp_path / "assets" / "link.json").symlink_to(tmp_path / "secret.json")

    assert set(load_assets(tmp_path / "assets")) == {"index.html"}


def test_console_without_a_slash_redirects_to_the_folder_keeping_the_fragment(site: ConsoleSite) -> None:
    answer = site.respond({"routeKey": "GET /console", "headers": {}})

    assert answer["statusCode"] == 308
    assert answer["headers"]["Location"] == "console/"  # relative: the deployed stage prefix is kept


def test_the_folder_itself_is_served_even_when_it_arrives_on_the_route_without_a_slash(site: ConsoleSite) -> None:
    # GIVEN `/console/` matched to the `/console` route (a gateway that folds trailing slashes)
    answer = site.respond({"routeKey": "GET /console", "rawPath": "/console/", "headers": {}})

    # THEN the page, not a redirect to itself
    assert answer["statusCode"] == 200 and b"<html" in body(answer).lower()


@pytest.mark.parametrize("origin", ["*", "https://a.example; script-src *", "http://a.example", "'unsafe-inline'"])
def test_a_frame_ancestors_value_that_is_not_origins_is_refused(origin: str) -> None:
    with pytest.raises(InvalidFrameAncestorsError):
        ConsoleSite({}, origin)


def test_the_template_parameter_takes_what_the_function_takes() -> None:
    from infra.template import load_template

    pattern = re.compile(load_template()["Parameters"]["WorkplaceOrigin"]["AllowedPattern"])
    for value in ("'none'", WORKPLACE, f"{WORKPLACE} https://*.workplace.example"):
        assert pattern.fullmatch(value)
        ConsoleSite({}, value)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_another_origin() -> None:
    parser = _Tags()
    parser.feed((ASSETS / "index.html").read_text(encoding="utf-8"))

    for tag, attrs in parser.tags:
        assert "style" not in attrs and not any(name.startswith("on") for name in attrs), tag
        if tag == "script":
            assert attrs.get("src") and "//" not in attrs["src"]
        if tag == "link":
            assert "//" not in (attrs.get("href") or "")
    assert "<style" not in (ASSETS / "index.html").read_text(encoding="utf-8")
    for script in (ASSETS / "js").glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for markup_sink in (".innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert markup_sink not in text, (script.name, markup_sink)
        assert not re.search(r"""(import|fetch)\s*\(?\s*["']https?:""", text), script.name


def test_the_console_fields_are_the_settings_fields_the_api_names() -> None:
    document = json.loads((ASSETS / "fields.json").read_text(encoding="utf-8"))
    console = document["integrations"]

    assert set(console) == {integration.value for integration in Integration}
    for integration in Integration:
        specs = FIELD_SPECS[integration]
        shown = console[integration.value]
        assert [f["name"] for f in shown] == [s.name for s in specs], integration
        assert {f["name"] for f in shown if f.get("secret")} == {s.name for s in specs if s.secret}, integration
        for spec in specs:  # each labelled in the console's three languages
            assert set(document["labels"][spec.name]) == {"ja", "ko", "en"}, spec.name


def test_the_local_gateway_routes_a_greedy_path_to_the_console_after_literal_routes() -> None:
    class Echo:
        logical_id = "EchoFunction"

        def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
            return {"statusCode": 200, "body": json.dumps(event["pathParameters"])}

    local = Gateway("127.0.0.1", 0)
    routes = [
        Route.build("GET", "/console/{proxy+}", Echo(), authorized=False),  # type: ignore[arg-type]
        Route.build("GET", "/console/", Echo(), authorized=False),  # type: ignore[arg-type]
    ]
    local.serve(sorted(routes, key=lambda r: (r.path.count("+}"), r.path.count("{"))), None, None)  # type: ignore[arg-type]
    try:
        _, _, nested = local.dispatch("GET", "/console/vendor/a/b.js", {}, b"", "127.0.0.1")
        _, _, index = local.dispatch("GET", "/console/", {}, b"", "127.0.0.1")
    finally:
        local.stop()
    assert json.loads(nested) == {"proxy": "vendor/a/b.js"}
    assert json.loads(index) is None
