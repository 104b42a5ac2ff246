"""One HTTP call to a provider: network failures become retryable errors that name neither the URL
(it may carry a webhook token) nor the body (it may carry a code or secret)."""

from __future__ import annotations

from typing import Any

import requests

from workplace_hub.errors import OutcomeUnknownError, RetryableProviderError


def provider_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    provider: str,
    timeout: tuple[float, float],
    code_prefix: str = "",
    **kwargs: Any,
) -> requests.Response:
    """`session.request`, with `<prefix>timeout` / `<prefix>connection_error` raised as retryable."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.ConnectTimeout:  # nothing was sent
        raise RetryableProviderError(provider, f"{code_prefix}timeout", detail="could not connect in time") from None
    except requests.Timeout:  # sent, the answer lost: the provider may have acted on it
        raise OutcomeUnknownError(provider, f"{code_prefix}timeout", detail="no answer in time") from None
    except requests.ConnectionError:
        raise RetryableProviderError(provider, f"{code_prefix}connection_error", detail="could not connect") from None
