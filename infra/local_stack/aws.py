"""moto in server mode, and the template's DynamoDB tables, SQS queues, KMS key and secret inside it."""

from __future__ import annotations

import json
import logging
import secrets as secrets_module
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from infra import moto_transactions
from infra.template import Resolver, resources_of_type

REGION = "ap-northeast-1"
ACCOUNT_ID = "123456789012"


def start_moto(host: str, port: int) -> tuple[ThreadedMotoServer, str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
    moto_transactions.install()  # the senders' windowed claims: see the module
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_port = server._server.server_port  # port 0 → the one the OS chose
    return server, f"http://{host}:{bound_port}"


def client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _secret_string(properties: dict[str, Any]) -> str:
    """The secret's value: as given, or generated like GenerateSecretString does."""
    generate = properties.get("GenerateSecretString")
    if not generate:
        return properties.get("SecretString", "{}")
    document = json.loads(generate.get("SecretStringTemplate", "{}"))
    document[generate["GenerateStringKey"]] = secrets_module.token_urlsafe(int(generate.get("PasswordLength", 32)))
    return json.dumps(document)


def _add_missing_indexes(dynamodb: Any, name: str, properties: dict[str, Any]) -> None:
    """A table kept from a run of an older template gets the indexes the template has added since (the records
    written before have no keys for them, as on AWS until they are written again)."""
    existing = {
        index["IndexName"]
        for index in dynamodb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
    }
    for index in properties.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] not in existing:
            dynamodb.update_table(
                TableName=name,
                AttributeDefinitions=properties["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )


def create_resources(
    template: dict[str, Any], resolver: Resolver, endpoint_url: str, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Create every table, queue, key and secret of the template (or find it, in a state kept from an earlier
    run); returns queue URLs by logical id."""
    dynamodb, sqs = client("dynamodb", endpoint_url), client("sqs", endpoint_url)
    kms, secrets = client("kms", endpoint_url), client("secretsmanager", endpoint_url)
    stage = resolver.parameters.get("Stage", "local")

    existing_keys = [kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"] for key in kms.list_keys()["Keys"]]
    for logical_id, resource in resources_of_type(template, "AWS::KMS::Key").items():
        description = resource["Properties"].get("Description", logical_id)
        kept = [key for key in existing_keys if key["Description"] == description]
        key = kept[0] if kept else kms.create_key(Description=description)["KeyMetadata"]
        resolver.refs[logical_id] = key["KeyId"]
        resolver.attributes[(logical_id, "Arn")] = key["Arn"]

    for logical_id, resource in resources_of_type(template, "AWS::SecretsManager::Secret").items():
        properties = resolver.resolve(resource["Properties"])
        try:
            arn = secrets.create_secret(Name=properties["Name"], SecretString=_secret_string(properties))["ARN"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceExistsException":
                raise
            arn = secrets.describe_secret(SecretId=properties["Name"])["ARN"]  # kept, with its value
        resolver.refs[logical_id] = arn

    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        name = f"{stage}-{logical_id}"
        arguments: dict[str, Any] = {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
        }
        if "GlobalSecondaryIndexes" in properties:
            arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        try:
            dynamodb.create_table(**arguments)
        except dynamodb.exceptions.ResourceInUseException:
            _add_missing_indexes(dynamodb, name, properties)
            resolver.refs[logical_id] = name  # kept, with its items
            continue
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        resolver.refs[logical_id] = name

    queues = resources_of_type(template, "AWS::SQS::Queue")
    queue_urls: dict[str, str] = {}
    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    ordered = sorted(queues, key=lambda logical_id: "RedrivePolicy" in queues[logical_id].get("Properties", {}))
    for logical_id in ordered:
        properties = queues[logical_id].get("Properties", {})
        attributes: dict[str, str] = {}
        if "VisibilityTimeout" in properties:
            attributes["VisibilityTimeout"] = str(visibility_timeout or properties["VisibilityTimeout"])
        if "MessageRetentionPeriod" in properties:
            attributes["MessageRetentionPeriod"] = str(properties["MessageRetentionPeriod"])
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(resolver.resolve(properties["RedrivePolicy"]))
        url = sqs.create_queue(QueueName=f"{stage}-{logical_id}", Attributes=attributes)["QueueUrl"]
        queue_urls[logical_id] = url
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{stage}-{logical_id}"
        resolver.attributes[(logical_id, "QueueName")] = f"{stage}-{logical_id}"
    return queue_urls
