"""The local stack's tables kept from an earlier run follow the template's indexes."""

from __future__ import annotations

from typing import Any

from infra.local_stack.aws import _add_missing_indexes
from tests.unit.aws import boto3_session, template_resources


def test_a_kept_table_gets_the_indexes_the_template_added_since(aws: None) -> None:
    # GIVEN the deliveries table as the template made it before ByCompanyShard (a ByCompany index instead)
    properties: dict[str, Any] = template_resources()["DeliveriesTable"]["Properties"]
    dynamodb = boto3_session().client("dynamodb")
    by_user = [index for index in properties["GlobalSecondaryIndexes"] if index["IndexName"] == "ByUser"]
    by_company = {
        "IndexName": "ByCompany",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    dynamodb.create_table(
        TableName="local-DeliveriesTable",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
        ],
        KeySchema=properties["KeySchema"],
        GlobalSecondaryIndexes=[by_company, *by_user],
    )

    # WHEN the local stack starts on it again
    _add_missing_indexes(dynamodb, "local-DeliveriesTable", properties)

    # THEN it has every index of the template, and a second start changes nothing
    def indexes() -> set[str]:
        table = dynamodb.describe_table(TableName="local-DeliveriesTable")["Table"]
        return {index["IndexName"] for index in table["GlobalSecondaryIndexes"]}

    assert indexes() == {"ByCompany", "ByUser", "ByCompanyShard"}
    _add_missing_indexes(dynamodb, "local-DeliveriesTable", properties)
    assert indexes() == {"ByCompany", "ByUser", "ByCompanyShard"}
