"""Keys and items built from outside input stay within DynamoDB's limits (storage/keys.py and its users).

moto checks only some of them (a table's or index's key on put_item, and an item's size), not on reads or updates
as DynamoDB does; so the key builders are checked here for every input the contract allows.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.aws import HubStack, stored_record
from tests.unit.builders import COMPANY, EVENT_ID, TARO
from workplace_hub.catalog import Integration
from workplace_hub.errors import InvalidPageToken, StoredValueTooLargeError, ValueTooLargeError
from workplace_hub.events import COMPANY_ID_PATTERN, EVENT_ID_PATTERN
from workplace_hub.storage.delivery_records import (
    DeliveryKey,
    DeliveryStatus,
    NewDelivery,
    Outcome,
    Replay,
    new_item,
    sort_key,
    user_prefix,
)
from workplace_hub.storage.keys import ITEM_BYTES, PARTITION_KEY_BYTES, SORT_KEY_BYTES, byte_size, fit
from workplace_hub.storage.links import line_user_key, links_key
from workplace_hub.storage.rate_limits import RateLimit, SharedRateLimiter
from workplace_hub.storage.settings import StoredIntegration

# Any Unicode text a JSON string can carry as text (lone surrogates are no text: the contract refuses them).
TEXT = st.characters(exclude_categories=("Cs",))
FOUR_BYTE = st.characters(min_codepoint=0x10000, exclude_categories=("Cs", "Cn"))
user_ids = st.text(TEXT, min_size=1, max_size=256) | st.text(FOUR_BYTE, min_size=1, max_size=256)
calendar_ids = st.text(TEXT | FOUR_BYTE, min_size=1, max_size=255)
channels = (
    st.sampled_from(["slack", "google_chat", "line", "kakao", "naver_works", "none", "google_calendar"])
    | st.just("naver_works_calendar")
    | calendar_ids.map(lambda c: f"naver_works_calendar:{c}")
    | st.sampled_from(["router", "send_slack", "calendar"]).map(lambda s: f"dead_letter:{s}:0123456789ab")
)
companies = st.from_regex(COMPANY_ID_PATTERN, fullmatch=True)
event_ids = st.from_regex(EVENT_ID_PATTERN, fullmatch=True)
KEYS = settings(max_examples=300, deadline=None, database=None)

PARTITION_KEYS = ("pk", "company_shard", "gsi2pk")
SORT_KEYS = ("sk", "gsi1sk", "gsi2sk")
NOW = "2026-11-28T00:15:00.000Z"


@KEYS
@given(companies, event_ids, user_ids, channels)
def test_delivery_item_keys_fit_dynamodb_limits_for_every_contract_input(
    company_id: str, event_id: str, user_id: str, channel: str
) -> None:
    # GIVEN any company, event, recipient and channel the contract allows
    record = NewDelivery(
        DeliveryKey(company_id, event_id, user_id, channel), "approval.requested", DeliveryStatus.QUEUED
    )

    # WHEN the record's item is built
    item = new_item(record, NOW, 0)

    # THEN every table and index key fits (bytes, not characters), and the whole values stay as attributes
    for name in PARTITION_KEYS:
        assert byte_size(item[name]) <= PARTITION_KEY_BYTES, name
    for name in SORT_KEYS:
        assert byte_size(item[name]) <= SORT_KEY_BYTES, name
    assert (item["user_id"], item["channel"], item["event_id"]) == (user_id, channel, event_id)
    # AND the record's sort key starts with the user's prefix (how one user's records of an event are listed)
    assert item["sk"].startswith(user_prefix(user_id))
    # AND the listings' time filters still work on the index sort keys
    assert item["gsi1sk"].startswith(NOW)


@KEYS
@given(st.tuples(user_ids, channels), st.tuples(user_ids, channels))
def test_delivery_sort_keys_of_distinct_recipients_differ(a: tuple[str, str], b: tuple[str, str]) -> None:
    # GIVEN two recipient × channel pairs
    # WHEN / THEN they share a sort key only when they are the same pair
    assert (sort_key(*a) == sort_key(*b)) == (a == b)


@KEYS
@given(companies, user_ids, st.text(TEXT, min_size=1, max_size=600))
def test_links_and_line_index_keys_fit(company_id: str, user_id: str, line_user_id: str) -> None:
    # GIVEN an employee (any user ID) and a LINE userId
    # WHEN / THEN the links key and the ByLineUser key fit
    key = links_key(company_id, user_id)
    assert byte_size(key["pk"]) <= PARTITION_KEY_BYTES
    assert byte_size(key["sk"]) <= SORT_KEY_BYTES
    assert byte_size(line_user_key(company_id, line_user_id)) <= PARTITION_KEY_BYTES


@pytest.mark.parametrize("size", [SORT_KEY_BYTES - 1, SORT_KEY_BYTES, SORT_KEY_BYTES + 1, 5000])
def test_fit_keeps_what_fits_and_hashes_the_rest_with_a_readable_prefix(size: int) -> None:
    # GIVEN an ASCII value of `size` bytes
    value = "u" * size

    # WHEN it is fit to a sort key
    key = fit(value, SORT_KEY_BYTES)

    # THEN a value that fits is kept as it was; a longer one becomes a prefix and its digest, within the limit
    if size <= SORT_KEY_BYTES:
        assert key == value
    else:
        assert byte_size(key) <= SORT_KEY_BYTES
        assert key.startswith("u" * 900)
        assert "~sha256:" in key


def test_fit_never_splits_a_character() -> None:
    # GIVEN 300 three-byte characters (900 bytes) against a 500-byte budget
    key = fit("日" * 300, 500)

    # WHEN / THEN the key is valid text, within the budget
    assert byte_size(key) <= 500
    assert key.encode("utf-8").decode("utf-8") == key


# ------------------------------------------------------------------------ the same keys, on moto

LONG_USER_ID = "😀" * 256  # 1,024 bytes: a delivery sort key of `<user_id>#<channel>` would exceed the limit


def test_delivery_record_of_longest_user_id_written_claimed_and_listed(stack: HubStack) -> None:
    # GIVEN the delivery record of a recipient with the longest user ID of four-byte characters
    key = DeliveryKey(COMPANY, EVENT_ID, LONG_USER_ID, "naver_works_calendar:" + "c" * 255)

    # WHEN it is written, claimed and finished, and listed by event and by user
    stack.deliveries.add_many([NewDelivery(key, "approval.requested", DeliveryStatus.QUEUED)])
    claim = stack.deliveries.claim(key, 60)
    stack.deliveries.finish_many([Outcome(key, DeliveryStatus.SENT, provider_message_id="m-1")])
    by_event, _ = stack.deliveries.search(COMPANY, event_id=EVENT_ID, user_id=LONG_USER_ID)
    by_user, _ = stack.deliveries.search(COMPANY, user_id=LONG_USER_ID)

    # THEN each works on the same record, shown with its whole user ID
    assert claim.outcome.value == "claimed"
    assert [(r["user_id"], r["status"]) for r in by_event] == [(LONG_USER_ID, "sent")]
    assert [r["channel"] for r in by_user] == [key.channel]


def test_delivery_search_by_event_and_user_lists_only_that_user(stack: HubStack) -> None:
    # GIVEN records of user `a` and of user `a#slack` (whose sort keys share the prefix `a#`)
    records = [DeliveryKey(COMPANY, EVENT_ID, user, "slack") for user in ("a", "a#slack")]
    stack.deliveries.add_many([NewDelivery(k, "approval.requested", DeliveryStatus.QUEUED) for k in records])

    # WHEN user `a`'s records of the event are listed
    found, _ = stack.deliveries.search(COMPANY, event_id=EVENT_ID, user_id="a")

    # THEN only hers
    assert [r["user_id"] for r in found] == ["a"]


def test_links_of_user_id_longer_than_a_sort_key_kept_and_read_back(stack: HubStack) -> None:
    # GIVEN a user ID over the sort key's 1,024 bytes (a token's `sub` is not bounded by the event contract)
    user_id = "社員" * 400

    # WHEN a link is saved and read back, alone, in a batch and in the listing
    stack.links.update(COMPANY, user_id, {"slack_member_id": "U0LONG"}, [])
    one = stack.links.get(COMPANY, user_id)
    many = stack.links.get_many(COMPANY, [user_id, TARO])
    listed, _ = stack.links.list(COMPANY, limit=10, next_token=None)

    # THEN each answers under the whole user ID, and the stored key attribute is no link value
    assert one.get("slack_member_id") == "U0LONG"
    assert "user_id" not in one.attributes
    assert list(many) == [user_id]
    assert [links.user_id for links in listed] == [user_id]


def test_links_next_token_longer_than_a_sort_key_refused_as_invalid(stack: HubStack) -> None:
    # GIVEN a next_token no listing returned (over the sort key limit)
    # WHEN / THEN it is storage's page-token error (the API's 400 naming next_token), never DynamoDB's
    with pytest.raises(InvalidPageToken, match="not a token"):
        stack.links.list(COMPANY, limit=10, next_token="x" * 2000)


def test_links_value_too_large_refused_before_writing(stack: HubStack) -> None:
    # GIVEN a link value larger than an employee's links may hold
    # WHEN it is saved
    with pytest.raises(StoredValueTooLargeError) as raised:
        stack.links.update(COMPANY, TARO, {"google_workspace_id": "x" * 100_000, "slack_member_id": "U1"}, [])

    # THEN the error names that field, and nothing was written
    assert raised.value.field == "google_workspace_id"
    assert stack.links.get(COMPANY, TARO).attributes == {}


def test_settings_value_over_the_item_limit_raises_a_storage_error_naming_it(stack: HubStack) -> None:
    # GIVEN a 500 KB OAuth client file (DynamoDB holds 400 KB an item), sealed as the settings API seals it
    sealed = stack.keyring.seal(COMPANY, "google_calendar:oauth_client_json", "{" + "x" * 500_000 + "}")
    stored = StoredIntegration(
        Integration.GOOGLE_CALENDAR, True, {"company_domain": "acme.example"}, {"oauth_client_json": sealed}
    )

    # WHEN it is saved
    with pytest.raises(StoredValueTooLargeError) as raised:
        stack.settings_repository.save_integration(COMPANY, stored, "admin@acme.example")

    # THEN the hub's own error names the field (the API answers it 413 too_large), never botocore's; nothing was
    # written
    assert isinstance(raised.value, ValueTooLargeError)
    assert raised.value.field == "settings.oauth_client_json"
    assert "oauth_client_json" in str(raised.value)
    assert Integration.GOOGLE_CALENDAR not in stack.settings_repository.load(COMPANY).integrations


def test_settings_value_below_the_limit_saved(stack: HubStack) -> None:
    # GIVEN a large but storable secret (200 KB, about 270 KB sealed)
    sealed = stack.keyring.seal(COMPANY, "google_calendar:oauth_client_json", "x" * 200_000)
    stored = StoredIntegration(Integration.GOOGLE_CALENDAR, True, {}, {"oauth_client_json": sealed})

    # WHEN / THEN it is saved
    stack.settings_repository.save_integration(COMPANY, stored, "admin@acme.example")
    assert Integration.GOOGLE_CALENDAR in stack.settings_repository.load(COMPANY).integrations


def test_dead_letter_of_message_too_large_for_its_record_recorded_without_replay(stack: HubStack) -> None:
    # GIVEN a dead-lettered message larger than a record can hold (SQS messages reach 1 MiB, items 400 KB)
    body = '{"pad": "' + "x" * ITEM_BYTES + '"}'

    # WHEN the stage records it
    key = stack.deliveries.add_dead_letter(
        COMPANY, EVENT_ID, "approval.requested", "router", "routing failed", Replay("events", body)
    )

    # THEN the admin still sees it, not replayable here, and told to redrive the DLQ
    record = stored_record(stack.dynamodb.Table("deliveries"), key)
    assert record is not None
    assert (record["status"], record["replayable"]) == ("dead_lettered", False)
    assert "redrive" in record["reason"]


@KEYS
@given(st.text(TEXT | FOUR_BYTE, min_size=1, max_size=1200))
def test_rate_limit_bucket_key_fits(channel: str) -> None:
    # GIVEN a bucket named after an address (a Slack channel as the job carries it)
    written: list[dict[str, Any]] = []

    class Table:
        def update_item(self, **kwargs: Any) -> None:
            written.append(kwargs["Key"])

    # WHEN a token is taken
    SharedRateLimiter(Table()).acquire(RateLimit(f"slack:0123456789abcdef:{channel}", 1.0, 3))

    # THEN the bucket's key fits a partition key
    assert byte_size(written[0]["pk"]) <= PARTITION_KEY_BYTES
