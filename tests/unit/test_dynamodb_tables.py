"""The product's table layer (storage.dynamodb): Python values in and out, the caller's parameters untouched."""

from __future__ import annotations

import copy
from decimal import Decimal

from boto3.dynamodb.conditions import Attr, Key

from tests.unit.aws import HubStack
from workplace_hub.storage.dynamodb import copy_params


def test_calls_leave_the_callers_parameters_as_they_were(stack: HubStack) -> None:
    # GIVEN an item with nested maps, lists, a set and a tuple, and a condition
    table = stack.dynamodb.Table("links")
    item = {
        "pk": "co1",
        "sk": "user1",
        "nested": {"list": [1, {"deep": "x"}, Decimal("1.5")], "tuple": ("a", {"b": 2})},
        "tags": {"red", "blue"},
    }
    before = copy.deepcopy(item)
    put = {"Item": item, "ConditionExpression": Attr("pk").not_exists()}
    # WHEN it is written, read back, queried and updated through the tables
    table.put_item(**put)
    update = {
        "Key": {"pk": "co1", "sk": "user1"},
        "UpdateExpression": "SET nested.#list[1].deep = :v",
        "ExpressionAttributeNames": {"#list": "list"},
        "ExpressionAttributeValues": {":v": "y"},
    }
    table.update_item(**update)
    query = {"KeyConditionExpression": Key("pk").eq("co1")}
    found = table.query(**query)["Items"]
    # THEN the caller's dicts still hold Python values and conditions (nothing serialized in place) ...
    assert item == before
    assert isinstance(put["ConditionExpression"], type(Attr("pk").not_exists()))
    assert update["ExpressionAttributeValues"] == {":v": "y"}
    assert set(query) == {"KeyConditionExpression"}
    # ... and what was stored reads back as Python values
    assert found[0]["nested"]["list"][1] == {"deep": "y"}
    assert found[0]["nested"]["tuple"] == ["a", {"b": 2}]
    assert found[0]["tags"] == {"red", "blue"}


def test_copy_params_copies_containers_and_shares_values() -> None:
    # GIVEN parameters with containers at every level
    value = Decimal("2")
    params = {"Item": {"a": [value, {"b": (1, {"c": "d"})}]}}
    # WHEN copied
    copied = copy_params(params)
    # THEN equal, no container shared (boto3's handlers replace values inside them), the values themselves shared
    assert copied == params
    assert copied["Item"] is not params["Item"]
    assert copied["Item"]["a"] is not params["Item"]["a"]
    assert copied["Item"]["a"][1]["b"][1] is not params["Item"]["a"][1]["b"][1]
    assert copied["Item"]["a"][0] is value
