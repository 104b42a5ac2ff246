"""Claiming deliveries: a job's recipients claimed side by side, one winner per delivery."""

from __future__ import annotations

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, EVENT_ID
from workplace_hub.storage.deliveries import ClaimOutcome, DeliveryKey, DeliveryStatus, NewDelivery


def _queued(stack: HubStack, count: int) -> list[DeliveryKey]:
    keys = [DeliveryKey(COMPANY, EVENT_ID, f"user{index}@acme.example", "slack") for index in range(count)]
    stack.deliveries.add_many([NewDelivery(key, "approval.requested", DeliveryStatus.QUEUED) for key in keys])
    return keys


def test_claim_many_all_queued_claims_every_one(stack: HubStack) -> None:
    # GIVEN ten queued deliveries
    keys = _queued(stack, 10)
    writes = stack.deliveries.writes

    # WHEN they are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN all are claimed, one conditional write each, and each record says `sending`
    assert set(outcomes.values()) == {ClaimOutcome.CLAIMED}
    assert stack.deliveries.writes - writes == 10
    assert {stack.deliveries.get(key)["status"] for key in keys} == {"sending"}


def test_claim_many_with_one_taken_gives_each_its_own_outcome(stack: HubStack) -> None:
    # GIVEN three queued deliveries, one of them already sent and one claimed by another worker
    keys = _queued(stack, 3)
    stack.deliveries.claim(keys[0], 60)
    stack.deliveries.finish(keys[0], DeliveryStatus.SENT)
    stack.deliveries.claim(keys[1], 60)

    # WHEN all three are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN only the free one is claimed; the others are reported, not taken again
    assert outcomes == {
        keys[0]: ClaimOutcome.ALREADY_FINAL,
        keys[1]: ClaimOutcome.IN_FLIGHT,
        keys[2]: ClaimOutcome.CLAIMED,
    }
    assert stack.deliveries.get(keys[0])["status"] == "sent"


def test_claim_many_more_than_run_side_by_side(stack: HubStack) -> None:
    # GIVEN 150 queued deliveries (a LINE multicast job can hold up to 500)
    keys = _queued(stack, 150)

    # WHEN they are claimed together
    outcomes = stack.deliveries.claim_many(keys, 60)

    # THEN every one is claimed
    assert len(outcomes) == 150 and set(outcomes.values()) == {ClaimOutcome.CLAIMED}
