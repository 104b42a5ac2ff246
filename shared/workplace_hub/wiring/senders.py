"""The sender functions' wiring (one per channel), and the AlimTalk results function's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workplace_hub.config import KakaoResultsSettings, SenderSettings, load_settings
from workplace_hub.queues import DeadLetters, JobQueue
from workplace_hub.wiring.common import (
    aws_client,
    call_budget_seconds,
    company_credentials,
    http_session,
    http_timeout,
    storage,
)

if TYPE_CHECKING:
    from workplace_hub.delivery.kakao_results import KakaoResultsWorker
    from workplace_hub.delivery.worker import DeliveryWorker


def build_worker(channel: str, config: SenderSettings | None = None) -> DeliveryWorker:
    """The delivery worker of one channel, with that channel's sender only."""
    from workplace_hub.delivery.senders import sender_class
    from workplace_hub.delivery.worker import DeliveryWorker
    from workplace_hub.storage.rate_limits import SharedRateLimiter

    on_accepted = None
    config = config or load_settings(SenderSettings)
    if channel == "kakao" and config.KAKAO_RESULTS_QUEUE_URL:
        from workplace_hub.delivery.kakao_results import ResultQueue, Timing, schedule_first_lookups

        on_accepted = schedule_first_lookups(
            ResultQueue(aws_client("sqs"), config.KAKAO_RESULTS_QUEUE_URL), Timing.of(config)
        )
    stored = storage(config)
    sqs = aws_client("sqs")
    timeout = http_timeout(config)
    return DeliveryWorker(
        sender=sender_class(channel)(http_session(config.SEND_CONCURRENCY), config, timeout),
        credentials=company_credentials(config, stored, cached=True),
        links=stored.links,
        deliveries=stored.deliveries,
        keyring=stored.keyring,
        queue=JobQueue(sqs, config.SEND_QUEUE_URL),
        dead_letters=DeadLetters(
            sqs, config.SEND_DLQ_URL, f"send_{channel}", log=stored.deliveries, replay_queue=channel
        ),
        max_receive_count=config.MAX_RECEIVE_COUNT,
        lease_seconds=config.CLAIM_LEASE_SECONDS,
        call_budget_seconds=call_budget_seconds(config),
        limiter=(
            SharedRateLimiter(aws_client("dynamodb").Table(config.RATE_LIMITS_TABLE_NAME))
            if config.RATE_LIMITS_TABLE_NAME
            else None
        ),
        on_accepted=on_accepted,
        concurrency=config.SEND_CONCURRENCY,
    )


def build_kakao_results(config: KakaoResultsSettings | None = None) -> KakaoResultsWorker:
    """The AlimTalk result lookup: a KakaoSender used only for its lookup (a read), never to send."""
    from workplace_hub.delivery.kakao_results import KakaoResultsWorker, ResultQueue, Timing
    from workplace_hub.kakao.alimtalk import KakaoSender

    config = config or load_settings(KakaoResultsSettings)
    stored = storage(config)
    sqs = aws_client("sqs")
    return KakaoResultsWorker(
        lookup=KakaoSender(http_session(), config, http_timeout(config)),
        credentials=company_credentials(config, stored, cached=True),
        deliveries=stored.deliveries,
        queue=ResultQueue(sqs, config.KAKAO_RESULTS_QUEUE_URL),
        dead_letters=DeadLetters(sqs, config.KAKAO_RESULTS_DLQ_URL, "kakao_results", log=stored.deliveries),
        timing=Timing.of(config),
    )
