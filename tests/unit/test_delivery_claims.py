"""Claiming deliveries: a job's recipients claimed side by side, one winner per delivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, EVENT_ID
from workplace_hub.storage.delivery_claims import ClaimOutcome
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery, Outcome, Replay


def _queued(stack: HubStack, count: int) -> list[DeliveryKey]:
    keys = [DeliveryKey(COMPANY, EVENT_ID, f"user{index}@acme.example", "slack") for index in range(count)]
    stack.deliveries.add_many([NewDelivery(key, "approval.requested", DeliveryStatus.QUEUED) for key in keys])
    return keys


def test_claim_many_all_queued_claims_every_one(stack: HubStack) -> None:
    # GIVEN ten queued deliveries
    keys = _queued(stack, 10)
    writes = stack.deliveries_writes()

    # WHEN they are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN all are claimed, one conditional write each, and each record says `sending`
    assert {claim.outcome for claim in outcomes.values()} == {ClaimOutcome.CLAIMED}
    assert stack.deliveries_writes() - writes == 10
    assert {stack.stored(key)["status"] for key in keys} == {"sending"}


def test_claim_many_with_one_taken_gives_each_its_own_outcome(stack: HubStack) -> None:
    # GIVEN three queued deliveries, one of them already sent and one claimed by another worker
    keys = _queued(stack, 3)
    stack.deliveries.claim(keys[0], 60)
    stack.finish(keys[0], DeliveryStatus.SENT)
    stack.deliveries.claim(keys[1], 60)

    # WHEN all three are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN only the free one is claimed; the others are reported, not taken again
    assert {key: claim.outcome for key, claim in outcomes.items()} == {
        keys[0]: ClaimOutcome.ALREADY_FINAL,
        keys[1]: ClaimOutcome.IN_FLIGHT,
        keys[2]: ClaimOutcome.CLAIMED,
    }
    assert stack.stored(keys[0])["status"] == "sent"


def test_claim_many_more_than_run_side_by_side(stack: HubStack) -> None:
    # GIVEN 150 queued deliveries (a LINE multicast job can hold up to 500)
    keys = _queued(stack, 150)

    # WHEN they are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN every one is claimed
    assert len(outcomes) == 150 and {claim.outcome for claim in outcomes.values()} == {ClaimOutcome.CLAIMED}


def _throttle(stack: HubStack, operation: str, *, times: int, matching: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Make the next `times` calls of `operation` (whose params match) fail as throttled; returns what it hit."""
    hits: list[str] = []
    client = stack.dynamodb.meta.client

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if len(hits) < times and matching(params):
            hits.append(operation)
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}}, operation
            )

    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", throttle)
    return hits


def test_claim_many_a_throttled_claim_is_unavailable_and_the_others_stand(stack: HubStack) -> None:
    # GIVEN three queued deliveries, and DynamoDB throttling the claim of the second
    keys = _queued(stack, 3)
    hits = _throttle(stack, "UpdateItem", times=1, matching=lambda p: p["Key"]["sk"].startswith("user1@"))

    # WHEN all three are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN the caller learns which it holds: the throttled one is left queued for a later attempt
    assert hits == ["UpdateItem"]
    assert [outcomes[key].outcome for key in keys] == [
        ClaimOutcome.CLAIMED,
        ClaimOutcome.UNAVAILABLE,
        ClaimOutcome.CLAIMED,
    ]
    assert [stack.stored(key)["status"] for key in keys] == ["sending", "queued", "sending"]


def test_claim_stores_the_first_retry_key_and_every_later_claim_gets_it_back(stack: HubStack) -> None:
    # GIVEN a delivery claimed with retry key A, whose attempt was postponed
    (key,) = _queued(stack, 1)
    first = stack.deliveries.claim(key, 60, retry_key="key-a")
    stack.deliveries.finish_many([Outcome(key, DeliveryStatus.RETRYING, reason="x", claimed=first.record)])

    # WHEN a later attempt claims it proposing key B
    second = stack.deliveries.claim(key, 60, retry_key="key-b")

    # THEN both attempts send under key A
    assert (first.retry_key, second.outcome, second.retry_key) == ("key-a", ClaimOutcome.CLAIMED, "key-a")


def test_finish_many_writes_claimed_records_whole_in_batches_of_25(stack: HubStack) -> None:
    # GIVEN 30 claimed deliveries
    keys = _queued(stack, 30)
    claims = stack.deliveries.claim_many(keys, 60)
    writes = stack.deliveries_writes()

    # WHEN their outcomes are written
    stack.deliveries.finish_many(
        [
            Outcome(key, DeliveryStatus.SENT, provider_message_id=f"m{i}", claimed=claims[key].record)
            for i, key in enumerate(keys)
        ]
    )

    # THEN two batch writes did it, and each record is sent, without its lease, with everything else kept
    assert stack.deliveries_writes() - writes == 2
    records = [stack.stored(key) for key in keys]
    assert {(r["status"], r["attempts"], r["item"]) for r in records} == {("sent", 1, "approval.requested")}
    assert [r["provider_message_id"] for r in records] == [f"m{i}" for i in range(30)]
    raw = stack.dynamodb.Table("deliveries").get_item(Key=keys[0].key())["Item"]
    assert "lease_until" not in raw and raw["company_shard"] == keys[0].company_shard()


def test_finish_many_tries_a_throttled_outcome_batch_again(stack: HubStack) -> None:
    # GIVEN two claimed deliveries, and DynamoDB throttling the first two batch writes
    keys = _queued(stack, 2)
    claims = stack.deliveries.claim_many(keys, 60)
    hits = _throttle(stack, "BatchWriteItem", times=2, matching=lambda p: True)

    # WHEN their outcomes are written
    stack.deliveries.finish_many([Outcome(k, DeliveryStatus.SENT, claimed=claims[k].record) for k in keys])

    # THEN the third try wrote them
    assert hits == ["BatchWriteItem", "BatchWriteItem"]
    assert [stack.stored(key)["status"] for key in keys] == ["sent", "sent"]


def test_finish_many_a_write_off_leaves_a_record_that_moved_on_alone(stack: HubStack) -> None:
    # GIVEN a delivery an admin's replay reopened (queued) since a worker found its claim expired
    (key,) = _queued(stack, 1)

    # WHEN the worker's write-off (failed: outcome_unknown, only over `sending`) is written
    stack.deliveries.finish_many(
        [Outcome(key, DeliveryStatus.FAILED, reason="outcome_unknown", expected=DeliveryStatus.SENDING)]
    )

    # THEN the replay stands
    assert stack.stored(key)["status"] == "queued"


def test_a_replay_drops_the_retry_key_of_the_failed_call(stack: HubStack) -> None:
    # GIVEN a failed delivery that kept the retry key of the call it was in, replayable
    (key,) = _queued(stack, 1)
    claim = stack.deliveries.claim(key, 60, retry_key="key-of-a-call-with-others")
    replay = Replay("line", "{}")
    stack.deliveries.finish_many(
        [Outcome(key, DeliveryStatus.FAILED, reason="retries_exhausted", replay=replay, claimed=claim.record)]
    )

    # WHEN an admin replays it, and its job claims it again proposing a new key
    assert stack.deliveries.reopen(key) == replay
    again = stack.deliveries.claim(key, 60, retry_key="new-key")

    # THEN it is sent under the new key: alone under the old one, the provider could take it for that call
    assert (again.outcome, again.retry_key) == (ClaimOutcome.CLAIMED, "new-key")
