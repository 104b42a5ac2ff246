"""The hub's one error hierarchy.

Every failure says what the caller should do with it: retry later, give up and record the reason, or
ask a person to re-link or re-configure. Errors carry structured fields, never secrets.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigurationError(HubError):
    """A missing or invalid environment variable or app secret: the function cannot start."""


class InvalidEventError(HubError):
    """A WORKPLACE event that does not match the contract; it goes to the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SettingsValidationError(HubError):
    """An admin or employee setting that is invalid; `field` names it (e.g. `settings.bot_token`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ValueTooLargeError(SettingsValidationError):
    """A setting (or a whole request) larger than the hub stores: 413, `field` names it."""

    def __init__(self, field: str, limit: int, unit: str = "characters") -> None:
        super().__init__(field, f"must be at most {limit} {unit}")
        self.limit = limit


class StoredValueTooLargeError(ValueTooLargeError):
    """What storage was asked to write is larger than a DynamoDB item holds (400 KB): raised before the write,
    `field` naming the largest value (the API answers 413 like any value too large)."""

    def __init__(self, field: str, limit_bytes: int) -> None:
        super().__init__(field, limit_bytes, "bytes stored together with the rest")


class InvalidPageToken(HubError):
    """A listing's `next_token` that storage did not hand out (or one of another listing): the caller's mistake."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(HubError):
    """The addressed resource does not exist for this company."""


class ConflictError(HubError):
    """The request contradicts the current state (e.g. routing an item to a disabled channel)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class ProviderError(HubError):
    """A provider call failed.

    Args:
        provider: the integration id (`slack`, `google_chat`, ...).
        code: the provider's own error code (`channel_not_found`, `PERMISSION_DENIED`, `http_503`...).
        status_code: the HTTP status, when there was a response.
        detail: a short human-readable explanation, free of secrets.
        reason: the delivery log's reason, when more specific than the error class says.
    """

    retryable: bool = False

    def __init__(
        self,
        provider: str,
        code: str,
        *,
        status_code: int | None = None,
        detail: str = "",
        reason: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {code}" + (f" ({detail})" if detail else ""))
        self.provider = provider
        self.code = code
        self.status_code = status_code
        self.detail = detail
        self.reason = reason


class RetryableProviderError(ProviderError):
    """429, 5xx, timeouts: try again later; `retry_after` (seconds) when the provider said when."""

    retryable = True

    def __init__(
        self,
        provider: str,
        code: str,
        *,
        status_code: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(provider, code, status_code=status_code, detail=detail, reason=reason)
        self.retry_after = retry_after


class OutcomeUnknownError(RetryableProviderError):
    """The request went out but its answer did not come back (a read timeout): the provider may have acted on
    it. Safe to repeat only where the provider deduplicates (LINE's retry key, a calendar's event id)."""


class PermanentProviderError(ProviderError):
    """The provider refused this message for good (bad target, bad body): record it as failed."""


class UnusableSettingsError(PermanentProviderError):
    """The credentials work, but what they point at cannot be used (an AlimTalk template with a variable
    the hub cannot fill). `derived` holds what was read all the same, so the admin can see it."""

    def __init__(self, provider: str, code: str, *, detail: str = "", reason: str | None = None, derived: dict) -> None:
        super().__init__(provider, code, detail=detail, reason=reason)
        self.derived = derived


class IntegrationCredentialsError(PermanentProviderError):
    """The company's credentials were rejected: the admin must fix the integration settings."""


class NeedsRelinkError(PermanentProviderError):
    """The employee's own link (webhook, token) was rejected: the employee must link again."""
