"""One HTTP call to a provider: network failures become retryable errors that name neither the URL
(it may carry a webhook token) nor the body (it may carry a code or secret)."""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, ProtocolError

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
    """`session.request`, with network failures raised as retryable: `<prefix>timeout` (connect) and
    `<prefix>connection_error` as RetryableProviderError; a read timeout (`<prefix>timeout`) and a connection
    lost mid-request (`<prefix>connection_lost`) as OutcomeUnknownError: the provider may have acted on it."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.ConnectTimeout:  # nothing was sent
        raise RetryableProviderError(provider, f"{code_prefix}timeout", detail="could not connect in time") from None
    except requests.Timeout:  # sent, the answer lost: the provider may have acted on it
        raise OutcomeUnknownError(provider, f"{code_prefix}timeout", detail="no answer in time") from None
    except requests.ConnectionError as exc:
        if _may_have_been_sent(exc):
            raise OutcomeUnknownError(
                provider, f"{code_prefix}connection_lost", detail="the connection broke after the request went out"
            ) from None
        raise RetryableProviderError(provider, f"{code_prefix}connection_error", detail="could not connect") from None


def _may_have_been_sent(error: requests.ConnectionError) -> bool:
    """Whether the connection broke once the request was on its way (reset, closed before the answer), rather
    than before it could be sent (refused, unresolvable, TLS handshake). requests wraps the first kind raw
    (ProtocolError, OSError) and the second in MaxRetryError: its adapter makes no retries of its own."""
    cause = error.args[0] if error.args else None
    return isinstance(cause, ProtocolError | OSError) and not isinstance(cause, MaxRetryError)
