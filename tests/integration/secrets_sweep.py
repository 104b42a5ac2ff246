"""The whole integration session, swept for leaked secrets.

While the session runs, every secret the tests hand the hub is noted (integration settings marked secret,
the secrets inside uploaded Google files, webhook keys and tokens, the WORKPLACE tokens the tests call
with), and so is everything the hub says: every log line of its loggers (and any library's, through the
root logger), every API response. At the end the providers' own secrets the hub received (OAuth codes,
access, refresh and ID tokens, from the sandbox's request log) are added, the dead-letter queues' reasons
and bodies are read, and no secret may appear anywhere.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from workplace_hub.integration_settings.specs import FIELD_SPECS

SECRET_SETTINGS = frozenset(spec.name for specs in FIELD_SPECS.values() for spec in specs if spec.secret)
# Secrets in what the hub sent the providers (OAuth code exchanges, token requests) and in their answers.
# (A response's "code" is an error code, no secret.)
SENT_SECRETS = ("code", "client_secret", "assertion", "refresh_token", "code_verifier")
ANSWERED_SECRETS = ("access_token", "refresh_token", "id_token")
MIN_LENGTH = 12  # shorter values (test placeholders like "x") would match by accident


class SecretsSweep:
    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.said: list[str] = []  # API responses
        self.logs = io.StringIO()

    # --- what the tests hand the hub --------------------------------------------------------------------

    def note_request(self, body: Any, authorization: str | None) -> None:
        if authorization:
            self._add(authorization.removeprefix("Bearer "))
        if not isinstance(body, dict):
            return
        settings = body.get("settings")
        if isinstance(settings, dict):
            for name, value in settings.items():
                if name in SECRET_SETTINGS and isinstance(value, str) and not value.startswith("*"):
                    self._add_secret_value(name, value)
        webhook = body.get("google_chat_webhook_url")
        if isinstance(webhook, str):
            for name, value in parse_qsl(urlsplit(webhook).query):
                if name in ("key", "token"):
                    self._add(value)

    def _add_secret_value(self, name: str, value: str) -> None:
        if name == "oauth_client_json":
            try:
                self._add(str(json.loads(value)["web"]["client_secret"]))
            except (ValueError, KeyError, TypeError):
                self._add(value)
        elif name == "service_account_json":
            try:
                self._add_pem(str(json.loads(value)["private_key"]))
            except (ValueError, KeyError, TypeError):
                self._add(value)
        elif "PRIVATE KEY" in value:
            self._add_pem(value)
        else:
            self._add(value)

    def _add_pem(self, pem: str) -> None:
        """A PEM's body lines are the secret (its BEGIN/END lines are not)."""
        for line in pem.splitlines():
            if line and not line.startswith("-----"):
                self._add(line)

    def _add(self, value: str) -> None:
        if len(value) >= MIN_LENGTH:
            self.secrets.add(value)

    def note_response(self, text: str) -> None:
        self.said.append(text)

    # --- what the providers gave the hub ------------------------------------------------------------------

    def note_provider_requests(self, requests_: list[dict[str, Any]]) -> None:
        for request in requests_:
            for document, names in ((request.get("body"), SENT_SECRETS), (request.get("response"), ANSWERED_SECRETS)):
                if isinstance(document, dict):
                    for name in names:
                        value = document.get(name)
                        if isinstance(value, str):
                            self._add(value)

    # --- the verdict ----------------------------------------------------------------------------------------

    def leaks(self, dead_letters: list[str]) -> dict[str, list[str]]:
        """where → secrets (shortened) found there."""
        places = {"logs": [self.logs.getvalue()], "API responses": self.said, "dead letters": dead_letters}
        found: dict[str, list[str]] = {}
        for place, texts in places.items():
            hits = sorted({secret for secret in self.secrets for text in texts if secret in text})
            if hits:
                found[place] = [f"{hit[:4]}…({len(hit)} chars)" for hit in hits]
        return found


# The active sweep of this session (the conftest fixture sets it); helpers.Api reports to it.
ACTIVE: list[SecretsSweep] = []
