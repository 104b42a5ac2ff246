"""The company listing's index projects every field the API shows of a delivery record."""

from __future__ import annotations

from tests.unit.aws import template_resources
from workplace_hub.storage.delivery_records import PUBLIC_FIELDS


def test_every_public_field_and_what_history_reads_is_projected_into_the_company_index() -> None:
    # GIVEN the ByCompanyShard index as template.yaml declares it
    (index,) = [
        i
        for i in template_resources()["DeliveriesTable"]["Properties"]["GlobalSecondaryIndexes"]
        if i["IndexName"] == "ByCompanyShard"
    ]
    projected = set(index["Projection"]["NonKeyAttributes"])

    # THEN a listing through it shows what a read of the record shows: every public field (the history too)
    assert set(PUBLIC_FIELDS) - projected == set()
