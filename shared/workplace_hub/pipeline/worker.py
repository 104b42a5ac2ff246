"""A delivery worker: takes send jobs off one provider's queue and sends each message at most once."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.errors import (
    HubError,
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Recipient
from workplace_hub.integration_settings import effective, open_credentials
from workplace_hub.jobs import SendJob
from workplace_hub.observability import logger, metrics
from workplace_hub.pipeline.queues import DeadLetters, JobQueue
from workplace_hub.providers.base import Destination, Notification, Sender
from workplace_hub.storage.deliveries import ClaimOutcome, DeliveriesRepository, DeliveryKey, DeliveryStatus
from workplace_hub.storage.links import EmployeeLinks, LinksRepository, link_purpose
from workplace_hub.storage.settings import CachedSettings, SettingsRepository, utc_now_iso


class JobPostponedError(HubError):
    """Some deliveries of this job hit a transient error; SQS redelivers the job after a delay."""


# Where each channel finds the address of a recipient: (links attribute, is it sealed?).
ADDRESS_FIELDS: dict[str, tuple[str, bool]] = {
    "slack": ("slack_member_id", False),
    "google_chat": ("google_chat_webhook_url", True),
}


def backoff_seconds(receive_count: int) -> float:
    """Delay before the next attempt when the provider did not say: 15 s, 30 s, 60 s, ... up to 15 min."""
    return float(min(900, 15 * 2 ** max(0, receive_count - 1)))


@dataclass
class _Attempt:
    retry_after: float | None = None
    retry_needed: bool = False


class DeliveryWorker:
    """Sends the jobs of one channel; records sent / failed / retrying on each delivery record."""

    def __init__(
        self,
        *,
        sender: Sender,
        settings: CachedSettings,
        settings_repository: SettingsRepository,
        links: LinksRepository,
        deliveries: DeliveriesRepository,
        keyring: Keyring,
        queue: JobQueue,
        dead_letters: DeadLetters,
        max_receive_count: int,
        lease_seconds: float,
    ) -> None:
        self._sender = sender
        self._settings = settings
        self._settings_repository = settings_repository
        self._links = links
        self._deliveries = deliveries
        self._keyring = keyring
        self._queue = queue
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        self._lease_seconds = lease_seconds

    def handle_record(self, record: SQSRecord) -> None:
        """SQS record handler: raises JobPostponedError to have the job retried after a delay."""
        try:
            job = SendJob.model_validate_json(record.body)
        except ValidationError as exc:
            where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:5])
            self._dead_letters.send(record.body, f"invalid send job: {where}")
            return
        if job.channel != self._sender.channel:
            self._dead_letters.send(record.body, f"send job for {job.channel} on the {self._sender.channel} queue")
            return
        logger.append_keys(company_id=job.company_id, event_id=job.event_id, channel=job.channel)
        receive_count = int(record.attributes.approximate_receive_count)
        attempt = self.deliver(job, last_attempt=receive_count >= self._max_receive_count)
        if attempt.retry_needed:
            delay = attempt.retry_after if attempt.retry_after is not None else backoff_seconds(receive_count)
            self._queue.postpone(record.receipt_handle, delay)
            raise JobPostponedError(f"retrying in {delay:.0f}s")

    def deliver(self, job: SendJob, *, last_attempt: bool) -> _Attempt:
        """Claim, send and record each recipient of the job."""
        attempt = _Attempt()
        company = self._settings.get(job.company_id)
        integration = Integration(job.channel)
        enabled = effective(company, integration).enabled
        credentials = open_credentials(company, integration, self._keyring) if enabled else {}
        links = self._links.get_many(job.company_id, [r.user_id for r in job.recipients])
        for recipient in job.recipients:
            key = DeliveryKey(job.company_id, job.event_id, recipient.user_id, job.channel)
            outcome = self._deliveries.claim(key, self._lease_seconds)
            if outcome == ClaimOutcome.LEASE_EXPIRED:
                # An earlier attempt died mid-send: it may have been delivered. At most once: do not resend.
                self._record(key, DeliveryStatus.FAILED, reason="outcome_unknown")
                continue
            if outcome != ClaimOutcome.CLAIMED:
                continue
            if not enabled:
                self._record(key, DeliveryStatus.SKIPPED, reason="channel_disabled")
                continue
            address = self._address(job.company_id, recipient, links.get(recipient.user_id))
            if address is None:
                self._record(key, DeliveryStatus.SKIPPED, reason=f"{ADDRESS_FIELDS[job.channel][0]}_missing")
                continue
            notification = Notification(
                event_id=job.event_id,
                item=job.item,
                title=job.message.title,
                body=job.message.body,
                url=job.message.url,
                locale=recipient.locale,
            )
            destination = Destination(recipient.user_id, address, recipient.name, recipient.phone)
            self._send_one(key, notification, destination, credentials, company.company_id, last_attempt, attempt)
        return attempt

    def _send_one(
        self,
        key: DeliveryKey,
        notification: Notification,
        destination: Destination,
        credentials: dict[str, str],
        company_id: str,
        last_attempt: bool,
        attempt: _Attempt,
    ) -> None:
        try:
            receipt = self._sender.send(notification, destination, credentials)
        except RetryableProviderError as exc:
            if last_attempt:
                self._record(key, DeliveryStatus.FAILED, reason="retries_exhausted", error_code=exc.code)
                return
            self._record(key, DeliveryStatus.RETRYING, reason="provider_unavailable", error_code=exc.code)
            attempt.retry_needed = True
            if exc.retry_after is not None:
                attempt.retry_after = max(attempt.retry_after or 0.0, exc.retry_after)
        except IntegrationCredentialsError as exc:
            self._record(key, DeliveryStatus.FAILED, reason="integration_credentials_rejected", error_code=exc.code)
            self._settings_repository.save_status(
                company_id,
                Integration(self._sender.channel),
                {
                    "state": "error",
                    "code": exc.code,
                    "checked_at": utc_now_iso(),
                    "detail": "rejected while sending",
                },
            )
            self._settings.invalidate(company_id)
        except NeedsRelinkError as exc:
            self._record(key, DeliveryStatus.FAILED, reason="needs_relink", error_code=exc.code)
        except PermanentProviderError as exc:
            self._record(key, DeliveryStatus.FAILED, reason="provider_rejected", error_code=exc.code)
        else:
            self._record(key, DeliveryStatus.SENT, provider_message_id=receipt.provider_message_id)

    def _address(self, company_id: str, recipient: Recipient, links: EmployeeLinks | None) -> str | None:
        field_name, sealed = ADDRESS_FIELDS[self._sender.channel]
        value = links.get(field_name) if links else None
        if not value:
            return None
        return self._keyring.open(company_id, link_purpose(recipient.user_id, field_name), value) if sealed else value

    def _record(self, key: DeliveryKey, status: DeliveryStatus, **details: str | None) -> None:
        self._deliveries.finish(key, status, **details)
        metrics.add_metric(name=f"Deliveries{status.value.capitalize()}", unit=MetricUnit.Count, value=1)
        if status != DeliveryStatus.SENT:
            logger.info("delivery not sent", extra={"user_id": key.user_id, "status": status.value, **details})
