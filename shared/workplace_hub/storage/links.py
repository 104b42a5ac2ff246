"""Employee links table: partition = company, sort key = WORKPLACE user id (`fit` to the 1,024-byte sort key
limit; a user ID too long for it is also kept whole in `user_id`).

Plain attributes hold non-secret link values (`slack_member_id`, `google_workspace_id`); values that
work as credentials (the Google Chat webhook URL, with its key and token) are stored sealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from workplace_hub.clock import utc_now_iso
from workplace_hub.errors import InvalidPageToken, StoredValueTooLargeError
from workplace_hub.storage.keys import PARTITION_KEY_BYTES, SORT_KEY_BYTES, fit, item_size

_BATCH_GET_LIMIT = 100
# What one update may store: an employee's links are a few short values; the item holds 400 KB in all.
LINK_VALUES_BYTES = 64 * 1024


def links_key(company_id: str, user_id: str) -> dict[str, str]:
    return {"pk": company_id, "sk": fit(user_id, SORT_KEY_BYTES)}


def line_user_key(company_id: str, line_user_id: str) -> str:
    """The ByLineUser index's partition key of an employee's LINE userId."""
    return fit(f"{company_id}#{line_user_id}", PARTITION_KEY_BYTES)


def link_purpose(user_id: str, field_name: str) -> str:
    """Associated data that binds a sealed link value to its employee and field."""
    return f"link:{user_id}:{field_name}"


@dataclass(frozen=True)
class EmployeeLinks:
    """One employee's linked accounts, as stored."""

    user_id: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.attributes.get(name)


class LinksRepository:
    """Reads and writes the links table; the table resource and its service resource are injected."""

    def __init__(self, table: Any, dynamodb_resource: Any) -> None:
        self._table = table
        self._resource = dynamodb_resource

    def get(self, company_id: str, user_id: str, *, consistent: bool = False) -> EmployeeLinks:
        item = self._table.get_item(Key=links_key(company_id, user_id), ConsistentRead=consistent).get("Item") or {}
        return EmployeeLinks(user_id, _strip_keys(item))

    def get_many(self, company_id: str, user_ids: list[str]) -> dict[str, EmployeeLinks]:
        """Batched read of many employees' links (users without any link are simply absent)."""
        found: dict[str, EmployeeLinks] = {}
        unique = list(dict.fromkeys(user_ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            keys = [links_key(company_id, user_id) for user_id in unique[start : start + _BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self._table.name: {"Keys": keys}}
            while request:
                response = self._resource.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table.name, []):
                    found[_user_id(item)] = EmployeeLinks(_user_id(item), _strip_keys(item))
                request = response.get("UnprocessedKeys") or {}
        return found

    def list(self, company_id: str, *, limit: int, next_token: str | None) -> tuple[list[EmployeeLinks], str | None]:
        """One page of a company's employees' links, by user id."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(company_id), "Limit": limit}
        if next_token:
            # The token is the last user id of the page before: a sort key, 1 to 1,024 bytes of UTF-8 (DynamoDB
            # refuses any other start key, which used to be a 500).
            try:
                fits = len(next_token.encode("utf-8")) <= SORT_KEY_BYTES
            except UnicodeEncodeError:
                fits = False
            if not fits:
                raise InvalidPageToken("is not a token this API returned")
            kwargs["ExclusiveStartKey"] = {"pk": company_id, "sk": next_token}
        page = self._table.query(**kwargs)
        items = [EmployeeLinks(_user_id(item), _strip_keys(item)) for item in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return items, (last["sk"] if last else None)

    def find_by_line_user(self, company_id: str, line_user_id: str) -> EmployeeLinks | None:
        """The employee who linked this LINE userId (sparse index ByLineUser)."""
        page = self._table.query(
            IndexName="ByLineUser",
            KeyConditionExpression=Key("line_user_key").eq(line_user_key(company_id, line_user_id)),
        )
        items = page["Items"]
        return EmployeeLinks(_user_id(items[0]), _strip_keys(items[0])) if items else None

    def update(
        self,
        company_id: str,
        user_id: str,
        values: dict[str, Any],
        removed: list[str],
        *,
        expected: dict[str, Any] | None = None,
    ) -> bool:
        """Set `values` and remove `removed` attributes of one employee's links. With `expected` (attribute →
        value, None for absent), only if those attributes still hold those values: False when they do not.
        Values too large for the item raise StoredValueTooLargeError naming the largest, before any write."""
        if item_size(values) > LINK_VALUES_BYTES:
            largest = max(values, key=lambda name: item_size({name: values[name]}))
            raise StoredValueTooLargeError(largest, LINK_VALUES_BYTES)
        key = links_key(company_id, user_id)
        if key["sk"] != user_id:
            values = {**values, "user_id": user_id}  # the key holds only its digest
        names: dict[str, str] = {}
        sets = ["updated_at = :updated_at"]
        attribute_values: dict[str, Any] = {":updated_at": utc_now_iso()}
        for index, (name, value) in enumerate(values.items()):
            names[f"#s{index}"] = name
            attribute_values[f":s{index}"] = value
            sets.append(f"#s{index} = :s{index}")
        expression = "SET " + ", ".join(sets)
        if removed:
            for index, name in enumerate(removed):
                names[f"#r{index}"] = name
            expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removed)))
        kwargs: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ExpressionAttributeValues": attribute_values,
        }
        conditions = []
        for index, (name, value) in enumerate((expected or {}).items()):
            names[f"#e{index}"] = name
            if value is None:
                conditions.append(f"attribute_not_exists(#e{index})")
            else:
                attribute_values[f":e{index}"] = value
                conditions.append(f"#e{index} = :e{index}")
        if conditions:
            kwargs["ConditionExpression"] = " AND ".join(conditions)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._table.update_item(**kwargs)
        except ClientError as exc:
            if conditions and exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _user_id(item: dict[str, Any]) -> str:
    return str(item.get("user_id", item["sk"]))


def _strip_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in ("pk", "sk", "user_id")}
