"""DynamoDB tables for the repositories, without boto3's resource layer.

The repositories use a few methods of boto3's `Table` resource (Python values in and out, `Key`/`Attr`
conditions). Building that resource costs every cold start about 40 ms more than a plain client (boto3
loads and compiles the resource models). `DynamoTables` gives the same methods on a plain client, with the
very handlers boto3's resource registers on its own client, so values and conditions behave the same.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.table import BatchWriter
from boto3.dynamodb.transform import TransformationInjector, copy_dynamodb_params


class _Meta:
    def __init__(self, client: Any) -> None:
        self.client = client


class DynamoTable:
    """One table: get_item, put_item, update_item, delete_item, query and batch_writer, as on `Table`."""

    def __init__(self, client: Any, name: str) -> None:
        self.name = name
        self.meta = _Meta(client)

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.get_item(TableName=self.name, **kwargs)

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.put_item(TableName=self.name, **kwargs)

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.update_item(TableName=self.name, **kwargs)

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.delete_item(TableName=self.name, **kwargs)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.query(TableName=self.name, **kwargs)

    def batch_writer(self, overwrite_by_pkeys: list[str] | None = None) -> BatchWriter:
        return BatchWriter(self.name, self.meta.client, overwrite_by_pkeys=overwrite_by_pkeys)


class DynamoTables:
    """What the wiring used the DynamoDB service resource for: `Table(name)`, `batch_get_item`, `meta.client`."""

    def __init__(self, client: Any) -> None:
        self.meta = _Meta(with_python_values(client))

    def Table(self, name: str) -> DynamoTable:  # the resource method's name
        return DynamoTable(self.meta.client, name)

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.batch_get_item(**kwargs)


def with_python_values(client: Any) -> Any:
    """Register on a DynamoDB client what boto3's resource registers on its own (boto3.dynamodb.transform):
    Python values serialized on the way in and back on the way out, conditions built into expressions."""
    injector = TransformationInjector()
    events = client.meta.events
    events.register("provide-client-params.dynamodb", copy_dynamodb_params, unique_id="dynamodb-create-params-copy")
    events.register(
        "before-parameter-build.dynamodb",
        injector.inject_condition_expressions,
        unique_id="dynamodb-condition-expression",
    )
    events.register(
        "before-parameter-build.dynamodb", injector.inject_attribute_value_input, unique_id="dynamodb-attr-value-input"
    )
    events.register(
        "after-call.dynamodb", injector.inject_attribute_value_output, unique_id="dynamodb-attr-value-output"
    )
    return client
