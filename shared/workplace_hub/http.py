"""One HTTP call to a provider: network failures become retryable errors that name neither the URL
(it may carry a webhook token) nor the body (it may carry a code or secret)."""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from urllib3.exceptions import MaxRetryError, ProtocolError

from workplace_hub.errors import OutcomeUnknownError, RetryableProviderError


class ProviderSession(requests.Session):
    """A `requests.Session` that reads the environment's proxy settings once per host, not on every request.

    requests looks up the proxies (and NO_PROXY) for each request by walking every environment variable, twice:
    about a sixth of a provider call's CPU in a sender. A container's environment does not change, so the answer
    for a host is kept; what is merged, and how, is requests' own `merge_environment_settings`."""

    # Kept by pickling, as requests' own attributes are.
    __attrs__: ClassVar[list[str]] = [*requests.Session.__attrs__, "_environment_proxies"]

    def __init__(self) -> None:
        super().__init__()
        self._environment_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            parts = urlsplit(url)
            key = (parts.scheme, parts.netloc, no_proxy)
            if key not in self._environment_proxies:
                self._environment_proxies[key] = get_environ_proxies(url, no_proxy=no_proxy)
            if proxies is not None:
                for name, value in self._environment_proxies[key].items():
                    proxies.setdefault(name, value)
            if verify is True or verify is None:
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


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
