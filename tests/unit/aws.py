"""In-process AWS (moto `mock_aws`) for storage, crypto and pipeline tests.

Tables are created from template.yaml's own definitions, read with the local stack's loader (infra.template), so a
key-schema change in the template is a change in the tests too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, NamedTuple
from unittest.mock import patch

import boto3

from infra.template import load_template
from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.integration_settings.admin import apply_update
from workplace_hub.storage.absences import AbsenceRegistry
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, Outcome, public_record
from workplace_hub.storage.dynamodb import DynamoTables
from workplace_hub.storage.links import LinksRepository, link_purpose
from workplace_hub.storage.settings import SettingsRepository

REGION = "ap-northeast-1"


@cache
def boto3_session() -> boto3.session.Session:
    """One session for every test: botocore caches service models per session, so clients are cheap.

    moto (imported before this session exists) intercepts its clients in-process whenever `mock_aws` is on.
    """
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@cache
def template_resources() -> dict[str, Any]:
    """The Resources section of template.yaml, read by the local stack's own loader (infra.template)."""
    return load_template()["Resources"]


def create_table_from_template(dynamodb: Any, logical_id: str, table_name: str) -> Any:
    """Create a DynamoDB table with the key schema and indexes the template declares for `logical_id`."""
    properties = template_resources()[logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in properties:
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return dynamodb.create_table(**kwargs)


WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def count_calls(client: Any) -> Counter[tuple[str, str]]:
    """(operation, table) → how many calls `client` makes from now on, counted by a botocore `before-call` hook
    (as the benchmark counts the functions' calls): nothing in the product counts for the tests."""
    counts: Counter[tuple[str, str]] = Counter()

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params.get("body") or b"{}")
        tables = [body["TableName"]] if "TableName" in body else list(body.get("RequestItems") or ())
        for table in tables or ["-"]:
            counts[(model.name, table)] += 1

    client.meta.events.register("before-call.dynamodb", count)
    return counts


def stored_record(table: Any, key: DeliveryKey) -> dict[str, Any] | None:
    """A delivery record as the API shows it, read straight from the deliveries table (None: not written)."""
    item = table.get_item(Key=key.key(), ConsistentRead=True).get("Item")
    return public_record(item) if item else None


@dataclass
class HubStack:
    """The hub's tables, queues and KMS key inside one `mock_aws` context, plus its repositories.

    `registry` reads the `absences` table with the real clock; a test that moves time builds its own
    `AbsenceRegistry(stack.dynamodb.Table("absences"), clock=...)`.
    """

    dynamodb: Any
    sqs: Any
    kms: Any
    kms_key_id: str
    settings_repository: SettingsRepository
    links: LinksRepository
    deliveries: DeliveriesRepository
    keyring: Keyring
    registry: AbsenceRegistry
    queue_urls: dict[str, str] = field(default_factory=dict)
    # (operation, table) → calls made on `dynamodb`'s client, counted by botocore's event hooks.
    dynamodb_calls: Counter[tuple[str, str]] = field(default_factory=Counter)

    # ------------------------------------------------------------ company setup
    def configure(
        self,
        company_id: str,
        integration: Integration,
        submitted: dict[str, Any],
        *,
        enabled: bool = True,
    ) -> None:
        """Store an integration exactly as the settings API would (validated, secrets sealed)."""
        company = self.settings_repository.load(company_id)
        stored = apply_update(company, integration, enabled, submitted, self.keyring)
        self.settings_repository.save_integration(company_id, stored, "admin@acme.example")

    def route(self, company_id: str, routing: dict[str, list[str]]) -> None:
        self.settings_repository.save_routing(company_id, routing, "admin@acme.example")

    def link_slack(self, company_id: str, user_id: str, member_id: str) -> None:
        self.links.update(company_id, user_id, {"slack_member_id": member_id}, [])

    def link_google_chat(self, company_id: str, user_id: str, webhook_url: str) -> None:
        field_name = "google_chat_webhook_url"
        sealed = self.keyring.seal(company_id, link_purpose(user_id, field_name), webhook_url)
        self.links.update(company_id, user_id, {field_name: sealed}, [])

    # ------------------------------------------------------------ reading back
    def record(self, company_id: str, event_id: str, user_id: str, channel: str) -> dict[str, Any] | None:
        """The public view (as the API shows it) of one stored record, read consistently from the table."""
        return stored_record(self.dynamodb.Table("deliveries"), DeliveryKey(company_id, event_id, user_id, channel))

    def stored(self, key: DeliveryKey) -> dict[str, Any] | None:
        """One delivery record as the API shows it (None: not written)."""
        return stored_record(self.dynamodb.Table("deliveries"), key)

    def finish(self, key: DeliveryKey, status: DeliveryStatus, **fields: str) -> None:
        """Record an outcome over a record as a sender would (`reason`, `error_code`, `provider_message_id`)."""
        self.deliveries.finish_many([Outcome(key, status, **fields)])

    def deliveries_writes(self) -> int:
        """How many write calls the hub's clients made on the deliveries table so far."""
        return sum(
            n for (operation, table), n in self.dynamodb_calls.items() if table == "deliveries" and operation in WRITES
        )

    def records(self, company_id: str, event_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """(user_id, channel) → public record, for every record of the event."""
        items, _ = self.deliveries.search(company_id, event_id=event_id, limit=1000)
        return {(item["user_id"], item["channel"]): item for item in items}

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Receive (and so hide) every message currently on a queue: [{"body", "attributes"}]."""
        received: list[dict[str, Any]] = []
        while True:
            page = self.sqs.receive_message(
                QueueUrl=self.queue_urls[queue],
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = page.get("Messages", [])
            if not messages:
                return received
            for item in messages:
                attributes = {name: value["StringValue"] for name, value in item.get("MessageAttributes", {}).items()}
                received.append(
                    {"body": item["Body"], "attributes": attributes, "receipt_handle": item["ReceiptHandle"]}
                )


CHANNELS = ("slack", "google_chat", "line", "kakao", "naver_works")
QUEUES = ("events_dlq", *CHANNELS, *(f"{channel}_dlq" for channel in CHANNELS), "calendar", "calendar_dlq")


TABLES = {
    "SettingsTable": "settings",
    "LinksTable": "links",
    "DeliveriesTable": "deliveries",
    "AbsencesTable": "absences",
    "RateLimitsTable": "rate_limits",
}


KEY_DESCRIPTION = "hub key"
# moto refuses a second PurgeQueue within 60 s, as SQS does; the tests empty every queue before each test.
LENIENT_PURGE = {"MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}


def key_attributes(logical_id: str) -> list[str]:
    """The names of a template table's key attributes (partition key, then sort key if any)."""
    return [key["AttributeName"] for key in template_resources()[logical_id]["Properties"]["KeySchema"]]


class AdminClients(NamedTuple):
    """SharedResources' own clients (see `SharedResources._admin`)."""

    dynamodb: Any
    sqs: Any
    kms: Any


class SharedResources:
    """The hub's tables, queues and KMS key, created once per run inside an active `mock_aws`.

    Creating them for every test cost ~0.1 s a test (most of the unit suite's set-up time); instead `checkout()`
    empties what the previous test addressed (tables truncated, queues purged) and hands each test a HubStack of its
    own clients and repositories, so nothing a test registers on a client or caches in a repository outlives it. A
    test that deleted a table, or reset moto (the `aws` fixture), only costs the next test the re-creation of what
    is gone.

    What was addressed is noted by a hook on `boto3_session()`, which every client of every HubStack comes from;
    a call that names no table (or no queue) counts as addressing them all.
    """

    def __init__(self) -> None:
        self._key_id = ""
        self._queue_urls: dict[str, str] = {}
        self._addressed_tables: set[str] = set(TABLES.values())
        self._addressed_queues: set[str] = set()
        session = boto3_session()
        session.events.register("provide-client-params.dynamodb", self._note_tables)
        session.events.register("provide-client-params.sqs", self._note_queues)

    @cached_property
    def _admin(self) -> AdminClients:
        """DynamoDB, SQS and KMS clients of a session of their own: never handed to a test, and their calls are not
        noted. Made at the first checkout, inside the test's fake environment (an AWS_ENDPOINT_URL left by the
        integration tests' stack in the same run must not point them at it)."""
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return AdminClients(session.client("dynamodb"), session.client("sqs"), session.client("kms"))

    def _note_tables(self, params: dict[str, Any], **_: Any) -> None:
        named = set(params["RequestItems"]) if "RequestItems" in params else set()
        if "TableName" in params:
            named.add(params["TableName"])
        for item in params.get("TransactItems", []):
            named.update(action["TableName"] for action in item.values() if "TableName" in action)
        self._addressed_tables |= named or set(TABLES.values())

    def _note_queues(self, params: dict[str, Any], **_: Any) -> None:
        self._addressed_queues |= {params["QueueUrl"]} if "QueueUrl" in params else set(self._queue_urls.values())

    def checkout(self) -> HubStack:
        """Every resource present and empty; a HubStack on fresh clients."""
        self._ensure()
        self._truncate()
        session = boto3_session()
        # The product's own table layer (storage.dynamodb), so every unit test runs the repositories on it.
        client = session.client("dynamodb")
        dynamodb = DynamoTables(client)
        settings_repository = SettingsRepository(dynamodb.Table("settings"))
        kms = session.client("kms")
        return HubStack(
            dynamodb=dynamodb,
            sqs=session.client("sqs"),
            kms=kms,
            kms_key_id=self._key_id,
            settings_repository=settings_repository,
            links=LinksRepository(dynamodb.Table("links"), dynamodb),
            deliveries=DeliveriesRepository(dynamodb.Table("deliveries")),
            keyring=Keyring(kms, self._key_id, settings_repository),
            registry=AbsenceRegistry(dynamodb.Table("absences")),
            queue_urls=dict(self._queue_urls),
            dynamodb_calls=count_calls(client),
        )

    def _ensure(self) -> None:
        """Create whatever is missing: everything on the first call, after a moto reset, or a deleted table."""
        existing = set(self._admin.dynamodb.list_tables()["TableNames"])
        for logical_id, name in TABLES.items():
            if name not in existing:
                create_table_from_template(self._admin.dynamodb, logical_id, name)
                # Something deleted it, or reset moto: trust nothing else to be empty either.
                self._addressed_tables |= set(TABLES.values())
        queue_urls = set(self._admin.sqs.list_queues().get("QueueUrls", []))
        if not self._queue_urls or not set(self._queue_urls.values()) <= queue_urls:
            self._queue_urls = {
                name: self._admin.sqs.create_queue(QueueName=name.replace("_", "-"))["QueueUrl"] for name in QUEUES
            }
            self._addressed_queues |= set(self._queue_urls.values())
        if not self._key_enabled():
            self._key_id = self._admin.kms.create_key(Description=KEY_DESCRIPTION)["KeyMetadata"]["KeyId"]

    def _key_enabled(self) -> bool:
        if not self._key_id:
            return False
        try:
            return self._admin.kms.describe_key(KeyId=self._key_id)["KeyMetadata"]["KeyState"] == "Enabled"
        except self._admin.kms.exceptions.NotFoundException:
            return False

    def _truncate(self) -> None:
        tables, self._addressed_tables = self._addressed_tables, set()
        queues, self._addressed_queues = self._addressed_queues, set()
        for logical_id, name in TABLES.items():
            if name not in tables:
                continue
            names = {f"#k{index}": attribute for index, attribute in enumerate(key_attributes(logical_id))}
            pages = self._admin.dynamodb.get_paginator("scan").paginate(
                TableName=name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
            )
            keys = [item for page in pages for item in page["Items"]]
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
                while requests:
                    answer = self._admin.dynamodb.batch_write_item(RequestItems={name: requests})
                    requests = answer.get("UnprocessedItems", {}).get(name, [])
        with patch.dict(os.environ, LENIENT_PURGE):
            for url in queues & set(self._queue_urls.values()):
                self._admin.sqs.purge_queue(QueueUrl=url)
