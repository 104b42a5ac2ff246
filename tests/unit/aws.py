"""In-process AWS (moto `mock_aws`) for storage, crypto and pipeline tests.

Tables are created from template.yaml's own definitions, read with a YAML loader that accepts the
CloudFormation `!` tags, so a key-schema change in the template is a change in the tests too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import yaml

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.integration_settings import apply_update
from workplace_hub.storage.absences import AbsenceRegistry
from workplace_hub.storage.deliveries import DeliveriesRepository, DeliveryKey
from workplace_hub.storage.dynamodb import DynamoTables
from workplace_hub.storage.links import LinksRepository, link_purpose
from workplace_hub.storage.settings import SettingsRepository

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REGION = "ap-northeast-1"


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads `!Ref x`, `!GetAtt a.b`, `!Sub ...` as `{"!Ref": x}` etc."""


def _cloudformation_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"!{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _cloudformation_tag)


@cache
def boto3_session() -> boto3.session.Session:
    """One session for every test: botocore caches service models per session, so clients are cheap.

    moto (imported before this session exists) intercepts its clients in-process whenever `mock_aws` is on.
    """
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@cache
def template_resources() -> dict[str, Any]:
    """The Resources section of template.yaml."""
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CloudFormationLoader)["Resources"]


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
        return self.deliveries.get(DeliveryKey(company_id, event_id, user_id, channel))

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


def build_stack() -> HubStack:
    """Create tables, queues and the KMS key; must run inside `mock_aws()`."""
    session = boto3_session()
    # The product's own table layer (storage.dynamodb), so every unit test runs the repositories on it.
    dynamodb = DynamoTables(session.client("dynamodb"))
    sqs = session.client("sqs")
    kms = session.client("kms")
    for logical_id, name in TABLES.items():
        create_table_from_template(dynamodb.meta.client, logical_id, name)
    settings_table, links_table = dynamodb.Table("settings"), dynamodb.Table("links")
    deliveries_table, absences_table = dynamodb.Table("deliveries"), dynamodb.Table("absences")
    key_id = kms.create_key(Description="hub key")["KeyMetadata"]["KeyId"]
    settings_repository = SettingsRepository(settings_table)
    keyring = Keyring(kms, key_id, settings_repository)
    queue_urls = {name: sqs.create_queue(QueueName=name.replace("_", "-"))["QueueUrl"] for name in QUEUES}
    return HubStack(
        dynamodb=dynamodb,
        sqs=sqs,
        kms=kms,
        kms_key_id=key_id,
        settings_repository=settings_repository,
        links=LinksRepository(links_table, dynamodb),
        deliveries=DeliveriesRepository(deliveries_table),
        keyring=keyring,
        registry=AbsenceRegistry(absences_table),
        queue_urls=queue_urls,
    )
