"""The local stack's AWS state round-trips through its file: items, messages, secrets, and KMS keys that still
open what they sealed (the restart through `make run` itself is in tests/integration/test_local_stack_run.py)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto.backends import get_backend

from infra.local_stack.persistence import SERVICES, StateUnreadableError, restore_state, save_state


def test_saved_state_comes_back_with_items_messages_secrets_and_keys(aws: None, tmp_path: Path) -> None:
    # GIVEN a table with an item, a queue with a message, a secret and a KMS key that sealed something
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    kms, secrets = boto3.client("kms"), boto3.client("secretsmanager")
    dynamodb.create_table(
        TableName="local-SettingsTable",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.put_item(TableName="local-SettingsTable", Item={"pk": {"S": "acme"}})
    queue = sqs.create_queue(QueueName="local-WorkplaceEventsDLQ")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="dead letter")
    key_id = kms.create_key(Description="company data keys")["KeyMetadata"]["KeyId"]
    sealed = kms.encrypt(KeyId=key_id, Plaintext=b"xoxb-secret")["CiphertextBlob"]
    secrets.create_secret(Name="local/app", SecretString='{"state_key": "k"}')

    # WHEN the state is saved, moto forgets everything, and the state is restored
    save_state(tmp_path / "aws-state.pickle")
    for service in SERVICES:
        get_backend(service).reset()
    assert dynamodb.list_tables()["TableNames"] == []
    assert restore_state(tmp_path / "aws-state.pickle") is True

    # THEN all of it is back, and the key still opens what it sealed
    assert dynamodb.get_item(TableName="local-SettingsTable", Key={"pk": {"S": "acme"}})["Item"]["pk"]["S"] == "acme"
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]] == ["dead letter"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"xoxb-secret"
    assert secrets.get_secret_value(SecretId="local/app")["SecretString"] == '{"state_key": "k"}'
    assert (tmp_path / "aws-state.pickle").stat().st_mode & 0o777 == 0o600


def test_nothing_saved_restores_nothing(aws: None, tmp_path: Path) -> None:
    assert restore_state(tmp_path / "aws-state.pickle") is False


def test_an_unreadable_state_says_how_to_start_clean(aws: None, tmp_path: Path) -> None:
    (tmp_path / "aws-state.pickle").write_bytes(b"not a pickle")

    with pytest.raises(StateUnreadableError, match="ARGS=--clean"):
        restore_state(tmp_path / "aws-state.pickle")
