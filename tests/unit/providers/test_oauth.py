"""The base of the employees' OAuth clients: one token-answer reader, one error-body reader, one ID-token refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.builders import http_response
from workplace_hub.errors import PermanentProviderError, ProviderError, RetryableProviderError
from workplace_hub.google.oauth import GoogleOAuthClient
from workplace_hub.line.login import LineLoginClient
from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient
from workplace_hub.providers.oauth import IdTokenError, OAuthClient, lifetime, oauth_error, token_answer


def test_every_employee_oauth_client_builds_on_the_base() -> None:
    for client in (GoogleOAuthClient, LineLoginClient, NaverWorksUserOAuthClient):
        assert issubclass(client, OAuthClient)
        assert client.provider in ("google_calendar", "line", "naver_works_calendar")


@pytest.mark.parametrize(("expires_in", "seconds"), [(3599, 3599.0), ("86400", 86400.0), (None, 60.0), ("x", 60.0)])
def test_lifetime_reads_numbers_and_numeric_strings_else_the_default(expires_in: Any, seconds: float) -> None:
    assert lifetime(expires_in, 60.0) == seconds


def test_token_answer_keeps_the_previous_refresh_token_when_the_answer_has_none() -> None:
    # GIVEN a refresh answer without a refresh token and with expires_in as a string
    response = http_response(200, {"access_token": "SECRETaccess", "expires_in": "3600"})

    # WHEN it is read
    tokens = token_answer(
        "p",
        response,
        1000.0,
        missing=RetryableProviderError,
        default_ttl=60.0,
        previous_refresh_token="SECRETold",
        default_scope="calendar",
    )

    # THEN the old refresh token stays, and the secrets stay out of its repr
    assert (tokens.refresh_token, tokens.expires_at, tokens.scope, tokens.id_token) == (
        "SECRETold",
        4600.0,
        "calendar",
        None,
    )
    assert "SECRET" not in repr(tokens)


@pytest.mark.parametrize("missing", [RetryableProviderError, PermanentProviderError])
def test_token_answer_without_an_access_token_raises_the_clients_choice(missing: type[ProviderError]) -> None:
    with pytest.raises(missing) as caught:
        token_answer("p", http_response(200, {"token_type": "Bearer"}), 0.0, missing=missing, default_ttl=60.0)
    assert type(caught.value) is missing
    assert caught.value.code == "invalid_token_response"


def test_oauth_error_masks_the_secrets_it_is_given_and_shortens_the_description() -> None:
    response = http_response(400, {"error": "invalid_grant", "error_description": "code SECRETcode " + "x" * 300})
    code, description = oauth_error(response, ("SECRETcode",))
    assert code == "invalid_grant"
    assert "SECRET" not in description and len(description) == 200
    assert oauth_error(http_response(502, text="<html>")) == ("", "")


def test_an_id_token_refusal_names_its_code_and_never_more() -> None:
    assert str(IdTokenError("id_token_nonce")) == "id_token_nonce"
    assert str(IdTokenError("email_mismatch", "signed in with another Google account")).startswith("email_mismatch: ")
