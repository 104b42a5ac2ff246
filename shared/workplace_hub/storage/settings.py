"""Company settings table: one partition per company.

Sort keys: `profile` (product), `routing` (notification item → channels), `integration#<id>` (enabled,
plain settings, sealed secrets, last verification status) and `datakey` (the KMS-encrypted data key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.errors import StoredValueTooLargeError
from workplace_hub.storage.keys import ITEM_BYTES, item_size

# What one integration's settings and sealed secrets may take together: the item holds 400 KB, and keeps room
# for its status and bookkeeping. (A sealed secret is about 4/3 of its plaintext: base64.)
INTEGRATION_VALUES_BYTES = ITEM_BYTES - 32 * 1024


@dataclass(frozen=True)
class StoredIntegration:
    """One integration as stored: secrets stay sealed until a sender or verify opens them."""

    integration: Integration
    enabled: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    sealed_secrets: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class CompanySettings:
    """Everything the hub knows about one company's configuration."""

    company_id: str
    product: str = "workplace"
    integrations: dict[Integration, StoredIntegration] = field(default_factory=dict)
    routing: dict[str, list[str]] = field(default_factory=dict)
    # Verification results of integrations the admin never saved (a Collabo company's default ones).
    statuses: dict[Integration, dict[str, Any]] = field(default_factory=dict)

    @property
    def is_collabo(self) -> bool:
        return self.product == "collabo"


class SettingsRepository:
    """Reads and writes the settings table; the table resource is injected."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, company_id: str) -> CompanySettings:
        """All of a company's settings in one query."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(company_id)}
        while True:
            page = self._table.query(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        product = "workplace"
        integrations: dict[Integration, StoredIntegration] = {}
        routing: dict[str, list[str]] = {}
        statuses: dict[Integration, dict[str, Any]] = {}
        for item in items:
            sort_key = item["sk"]
            if sort_key == "profile":
                product = item.get("product", "workplace")
            elif sort_key == "routing":
                routing = {name: list(channels) for name, channels in item.get("items", {}).items()}
            elif sort_key.startswith("integration#"):
                integration = Integration(sort_key.split("#", 1)[1])
                if "enabled" not in item:  # only a status was ever written (save_status)
                    statuses[integration] = item.get("status") or {}
                    continue
                integrations[integration] = StoredIntegration(
                    integration=integration,
                    enabled=bool(item.get("enabled", False)),
                    settings=dict(item.get("settings", {})),
                    sealed_secrets=dict(item.get("secrets", {})),
                    status=item.get("status"),
                    updated_at=item.get("updated_at"),
                )
        return CompanySettings(company_id, product, integrations, routing, statuses)

    def save_integration(self, company_id: str, stored: StoredIntegration, updated_by: str) -> None:
        """Replace one integration's settings and secrets (its status is kept unless given). Values too large
        for one item raise StoredValueTooLargeError, naming the largest (`settings.<name>`), before any write."""
        values_by_field = {**stored.settings, **stored.sealed_secrets}
        if item_size({"settings": stored.settings, "secrets": stored.sealed_secrets}) > INTEGRATION_VALUES_BYTES:
            largest = max(values_by_field, key=lambda name: item_size({name: values_by_field[name]}))
            raise StoredValueTooLargeError(f"settings.{largest}", INTEGRATION_VALUES_BYTES)
        names = {"#settings": "settings", "#secrets": "secrets", "#enabled": "enabled"}
        values: dict[str, Any] = {
            ":enabled": stored.enabled,
            ":settings": stored.settings,
            ":secrets": stored.sealed_secrets,
            ":now": utc_now_iso(),
            ":by": updated_by,
        }
        expression = (
            "SET #enabled = :enabled, #settings = :settings, #secrets = :secrets, updated_at = :now, updated_by = :by"
        )
        if stored.status is not None:
            expression += ", #status = :status"
            names["#status"] = "status"
            values[":status"] = stored.status
        self._table.update_item(
            Key={"pk": company_id, "sk": f"integration#{stored.integration.value}"},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def save_status(self, company_id: str, integration: Integration, status: dict[str, Any]) -> None:
        """Record the latest verification (or delivery-time credential) result."""
        self._table.update_item(
            Key={"pk": company_id, "sk": f"integration#{integration.value}"},
            UpdateExpression="SET #status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": status},
        )

    def save_routing(self, company_id: str, routing: dict[str, list[str]], updated_by: str) -> None:
        self._table.put_item(
            Item={
                "pk": company_id,
                "sk": "routing",
                "items": routing,
                "updated_at": utc_now_iso(),
                "updated_by": updated_by,
            }
        )

    def save_product(self, company_id: str, product: str) -> bool:
        """Record the company's product; False when it was already that (no write happened)."""
        try:
            self._table.put_item(
                Item={"pk": company_id, "sk": "profile", "product": product, "updated_at": utc_now_iso()},
                ConditionExpression="attribute_not_exists(pk) OR product <> :product",
                ExpressionAttributeValues={":product": product},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # DataKeyStore (see crypto.Keyring)
    def get_encrypted_data_key(self, company_id: str) -> bytes | None:
        item = self._table.get_item(Key={"pk": company_id, "sk": "datakey"}).get("Item")
        return bytes(item["ciphertext"]) if item else None

    def put_encrypted_data_key_if_absent(self, company_id: str, encrypted_key: bytes) -> bool:
        try:
            self._table.put_item(
                Item={
                    "pk": company_id,
                    "sk": "datakey",
                    "ciphertext": encrypted_key,
                    "created_at": utc_now_iso(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


class CachedSettings:
    """Company settings cached in the warm container for a short time (router and senders)."""

    def __init__(
        self, repository: SettingsRepository, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repository = repository
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, CompanySettings]] = {}
        self._lock = threading.Lock()

    def get(self, company_id: str) -> CompanySettings:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(company_id)
            if entry and entry[0] > now:
                return entry[1]
        settings = self._repository.load(company_id)
        with self._lock:
            self._entries[company_id] = (now + self._ttl, settings)
        return settings

    def invalidate(self, company_id: str) -> None:
        with self._lock:
            self._entries.pop(company_id, None)
