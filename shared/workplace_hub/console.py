"""The web console's static files (functions/console/assets/), served as the HTTP API answers them.

Every file is read once at cold start into a table keyed by its relative path; a request is answered only
from that table, so no path a client sends ever reaches the file system (no `..`, no symlink, no dotfile).
The console has no server-side session: its token arrives in the URL fragment, which never reaches here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workplace_hub.errors import ConfigurationError

# The types the console's files have; a file of any other type is not served (the vendored LICENSE ships
# beside its library without being a page).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
INDEX = "index.html"
# A request path: segments of letters, digits, dot, dash, underscore, none starting with a dot.
_SAFE_PATH = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*")
# No frame-ancestors source may carry a separator or a quote other than 'none' / 'self'.
_ANCESTORS = re.compile(r"'none'|'self'|(?:https://[A-Za-z0-9.*:-]+)(?: https://[A-Za-z0-9.*:-]+)*")


class InvalidFrameAncestorsError(ConfigurationError):
    """WORKPLACE_ORIGIN is not 'none', 'self' or a space-separated list of https origins."""


def content_security_policy(frame_ancestors: str) -> str:
    """No inline script or style, nothing from another origin; only WORKPLACE may frame the console."""
    if not _ANCESTORS.fullmatch(frame_ancestors):
        raise InvalidFrameAncestorsError("WORKPLACE_ORIGIN must be 'none', 'self' or https origins")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
    )


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(root: Path) -> dict[str, Asset]:
    """Every servable file under `root`, by its path relative to it."""
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or path.is_symlink() or content_type is None or not _SAFE_PATH.fullmatch(relative):
            continue
        body = path.read_bytes()
        assets[relative] = Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets


class ConsoleSite:
    """Answers `GET /console`, `GET /console/` and `GET /console/{proxy+}` from the loaded assets."""

    def __init__(self, assets: dict[str, Asset], frame_ancestors: str) -> None:
        self._assets = assets
        self._headers = {
            "Content-Security-Policy": content_security_policy(frame_ancestors),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
            # Revalidated on every load (a cheap 304 by the ETag): a new deploy reaches every browser at once,
            # and the files keep no version in their names (no build step).
            "Cache-Control": "no-cache",
        }

    def respond(self, event: dict[str, Any]) -> dict[str, Any]:
        route = event.get("routeKey", "")
        # By the path as sent, not the route alone: should API Gateway hand `/console/` to the `/console` route
        # (trailing slashes are not distinct routes everywhere), a redirect would send the browser in a loop.
        if route.endswith(" /console") and not str(event.get("rawPath") or "").endswith("/"):
            # Relative URLs in the page need the trailing slash; the fragment (the token) survives a redirect.
            return self._answer(308, b"", "text/plain; charset=utf-8", extra={"Location": "console/"})
        requested = (event.get("pathParameters") or {}).get("proxy") or INDEX
        asset = self._assets.get(requested) if _SAFE_PATH.fullmatch(requested) else None
        if asset is None:
            return self._answer(404, b"Not Found", "text/plain; charset=utf-8")
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        if headers.get("if-none-match") == asset.etag:
            return self._answer(304, b"", asset.content_type, extra={"ETag": asset.etag})
        return self._answer(200, asset.body, asset.content_type, extra={"ETag": asset.etag})

    def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> dict:
        import base64

        return {
            "statusCode": status,
            "headers": {**self._headers, "Content-Type": content_type, **(extra or {})},
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
        }
