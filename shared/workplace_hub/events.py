"""The WORKPLACE → hub event contract (../shared/contracts/workplace-events.md), as pydantic models."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from workplace_hub.errors import InvalidEventError

EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
COMPANY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ITEM_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_VERSION_CODE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){0,2}")  # what an unsupported version may look like

Locale = Literal["ja", "ko", "en"]
Product = Literal["workplace", "collabo"]

# A date, or a date-time: the contract's timestamps are RFC 3339 text. Left to itself pydantic also reads
# numbers and numeric strings as Unix times.
_RFC3339_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}.*)?", re.DOTALL)


def _rfc3339_text(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and _RFC3339_TEXT.fullmatch(value)):
        return value
    raise ValueError("must be RFC 3339 text (a date, or a date-time with an offset)")


# Given as RFC 3339 text (which pydantic then parses): a date-time with an offset; a date or such a date-time.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
DateOrTimestamp = Annotated[AwareDatetime | date, BeforeValidator(_rfc3339_text)]


class _ContractModel(BaseModel):
    # Unknown fields are ignored for forward compatibility (contract: "Envelope").
    model_config = ConfigDict(extra="ignore", frozen=True)


UserId = Annotated[str, Field(min_length=1, max_length=256)]
_USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


class Recipient(_ContractModel):
    """One person a notification goes to."""

    user_id: UserId
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, pattern=E164_PATTERN)
    locale: Locale = "ja"


class InvalidRecipient(_ContractModel):
    """A recipient whose entry breaks the contract (a malformed phone, name or locale) while its `user_id` is
    usable: the hub records it `failed` with the fields named and still delivers to the event's others."""

    index: int
    user_id: str
    fields: list[str]


class MessageContent(_ContractModel):
    """What every channel shows: title, body and a link to WORKPLACE."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=2000)
    url: str = Field(min_length=9, max_length=2048, pattern=r"^https://[^\s/?#]+[^\s]*$")


class _Envelope(_ContractModel):
    version: Literal["1"]
    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    company_id: str = Field(pattern=COMPANY_ID_PATTERN)
    occurred_at: Timestamp
    product: Product = "workplace"


class NotificationEvent(_Envelope):
    """`type: notification`: a workflow notification for 1-1000 recipients."""

    type: Literal["notification"]
    item: str = Field(pattern=ITEM_PATTERN)
    # The valid entries (1-1000 entries in all, with `invalid_recipients`).
    recipients: list[Recipient] = Field(max_length=1000)
    message: MessageContent
    # Set by the hub, never read from the event: see InvalidRecipient.
    invalid_recipients: list[InvalidRecipient] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _set_aside_invalid_recipients(cls, data: object) -> object:
        """One recipient's bad entry must not stop the event for the others. An entry without a usable
        user_id (nothing to record it under) still makes the whole event invalid, with its position."""
        if not isinstance(data, dict):
            return data
        data = {name: value for name, value in data.items() if name != "invalid_recipients"}
        entries = data.get("recipients")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 1000:
            return data  # the field's own validation says what is wrong
        valid: list[object] = []
        invalid: list[InvalidRecipient] = []
        for index, entry in enumerate(entries):
            recipient, problems = _checked_recipient(entry)
            user_id = entry.get("user_id") if isinstance(entry, dict) else None
            if problems and "user_id" not in problems and isinstance(user_id, str):
                invalid.append(InvalidRecipient(index=index, user_id=user_id, fields=problems))
            else:
                valid.append(recipient or entry)  # an entry without a usable user_id fails the event
        return {**data, "recipients": valid, "invalid_recipients": invalid}

    @model_validator(mode="after")
    def _unique_recipients(self) -> NotificationEvent:
        first: dict[str, int] = {}
        positions = [(r.user_id, i) for i, r in enumerate(self.recipients)]
        positions += [(r.user_id, r.index) for r in self.invalid_recipients]
        for user_id, index in positions:
            if user_id in first:
                # Positions, not the user_id: reasons go to logs and the DLQ and never carry values.
                low, high = sorted((first[user_id], index))
                raise ValueError(f"recipients {low} and {high} have the same user_id")
            first[user_id] = index
        if not positions:
            raise ValueError("recipients: at least one recipient is needed")
        return self


def _checked_recipient(entry: object) -> tuple[Recipient | None, list[str]]:
    """One `recipients` entry as a Recipient, or the fields that break the contract (names only, never values)."""
    try:
        return Recipient.model_validate(entry), []
    except ValidationError as exc:
        fields = [str(err["loc"][0]) if err["loc"] else "(entry)" for err in exc.errors()]
    if isinstance(entry, dict):
        try:
            _USER_ID.validate_python(entry.get("user_id"))
        except ValidationError:
            fields.append("user_id")
    return None, list(dict.fromkeys(fields))


class CalendarTarget(_ContractModel):
    """One calendar the employee chose for the absence."""

    provider: Literal["naver_works", "google"]
    calendar_id: str | None = Field(default=None, min_length=1, max_length=255)


class Absence(_ContractModel):
    """An absence schedule (不在日程)."""

    absence_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=256)
    kind: Literal["vacation", "half_day_am", "half_day_pm", "business_trip", "remote", "sick", "other"]
    title: str = Field(default="", max_length=200)
    all_day: StrictBool  # true or false, not 1 or "true"
    # Date-times first: a date-only string is no date-time (no offset), and a midnight date-time must
    # stay a date-time rather than collapse into a date.
    start: DateOrTimestamp = Field(union_mode="left_to_right")
    end: DateOrTimestamp = Field(union_mode="left_to_right")
    timezone: str
    calendars: list[CalendarTarget] = Field(max_length=20)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name like Asia/Tokyo") from None
        return value

    @model_validator(mode="after")
    def _consistent_times(self) -> Absence:
        """All-day absences carry dates, timed ones date-times; the end is never before the start."""
        kinds = {type(self.start), type(self.end)}
        if self.all_day and kinds != {date}:
            raise ValueError("all_day absences need dates in start and end")
        if not self.all_day and kinds != {datetime}:
            raise ValueError("timed absences need RFC 3339 date-times in start and end")
        if self.end < self.start:  # type: ignore[operator]
            raise ValueError("end is before start")
        return self


class AbsenceUpsertedEvent(_Envelope):
    """`type: absence.upserted`."""

    type: Literal["absence.upserted"]
    absence: Absence


class AbsenceRef(_ContractModel):
    absence_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=256)


class AbsenceCancelledEvent(_Envelope):
    """`type: absence.cancelled`."""

    type: Literal["absence.cancelled"]
    absence: AbsenceRef


EVENT_TYPES = ("notification", "absence.upserted", "absence.cancelled")
WorkplaceEvent = Annotated[
    NotificationEvent | AbsenceUpsertedEvent | AbsenceCancelledEvent, Field(discriminator="type")
]
_EVENT_ADAPTER: TypeAdapter[WorkplaceEvent] = TypeAdapter(WorkplaceEvent)


def parse_event(raw: str) -> NotificationEvent | AbsenceUpsertedEvent | AbsenceCancelledEvent:
    """Parse one SQS message body; raise InvalidEventError with a reason that names the fields."""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidEventError(f"body is not JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, RecursionError):
        # Valid JSON Python will not read: a number of more than 4300 digits, or nesting deeper than the
        # interpreter's recursion limit. Still the message's fault, never a crash of the batch.
        raise InvalidEventError("body is not JSON the hub can read (a number too long or nesting too deep)") from None
    if not isinstance(document, dict):
        raise InvalidEventError("body is not a JSON object")
    version = document.get("version")
    if version != "1":
        # A version number is a code and is shown; anything else is a value, and reasons never repeat values
        # (the DLQ keeps the whole message).
        shown = f" {version!r}" if isinstance(version, str) and _VERSION_CODE.fullmatch(version) else ""
        raise InvalidEventError(f"unsupported version{shown} (expected '1')")
    if document.get("type") not in EVENT_TYPES:
        raise InvalidEventError(f"type: must be one of {', '.join(EVENT_TYPES)}")
    try:
        return _EVENT_ADAPTER.validate_python(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            location = ".".join(str(part) for part in err["loc"]) or "(event)"
            problems.append(f"{location}: {err['msg']}")
        raise InvalidEventError("; ".join(problems)) from None
