"""template.yaml and samconfig.toml as an operator needs them: alarms on every queue, DLQ and function, a
dashboard, nothing deletable that data depends on, throttled entry points, least-privilege grants, outputs."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.template import ROOT, load_template
from workplace_hub.delivery.senders import SENDERS

# Short-form tags read as CloudFormation's long form: `!Ref X` is {"Ref": "X"}, `!GetAtt X.Arn` is
# {"Fn::GetAtt": ["X", "Arn"]}, `!Sub s` is {"Fn::Sub": s}.
TEMPLATE_DOC: dict[str, Any] = load_template()
RESOURCES: dict[str, Any] = TEMPLATE_DOC["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE_DOC["Parameters"]


def _of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == resource_type}


FUNCTIONS = sorted(_of_type("AWS::Serverless::Function"))
QUEUES = _of_type("AWS::SQS::Queue")
# A dead-letter queue is what some queue's RedrivePolicy names; a work queue is one with a RedrivePolicy.
WORK_QUEUES = sorted(name for name, q in QUEUES.items() if "RedrivePolicy" in q["Properties"])
DLQS = sorted(
    q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    for q in QUEUES.values()
    if "RedrivePolicy" in q["Properties"]
)
ALARMS = list(_of_type("AWS::CloudWatch::Alarm").values())
DATA_TABLES = ("SettingsTable", "LinksTable", "DeliveriesTable", "AbsencesTable")
API_FUNCTIONS = ("SettingsApiFunction", "LinkingFunction", "LineWebhookFunction", "ConsoleFunction")


def _alarms_on(namespace: str, metric: str, dimension: str, value: Any) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in ALARMS
        if a["Properties"]["Namespace"] == namespace
        and a["Properties"]["MetricName"] == metric
        and {"Name": dimension, "Value": value} in a["Properties"]["Dimensions"]
    ]


def _notifies_the_topic(alarm: dict[str, Any]) -> bool:
    return {"Ref": "AlarmTopic"} in alarm["AlarmActions"]


# ------------------------------------------------------------------------------------------------ alarms


def test_there_are_eight_dead_letter_queues_and_eight_work_queues() -> None:
    # The lists the other tests walk are not empty by accident.
    assert len(DLQS) == 8 and len(WORK_QUEUES) == 8
    assert set(DLQS) | set(WORK_QUEUES) == set(QUEUES)


@pytest.mark.parametrize("dlq", DLQS)
def test_every_dead_letter_queue_alarms_on_any_message(dlq: str) -> None:
    queue_name = {"Fn::GetAtt": [dlq, "QueueName"]}
    (alarm,) = _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name)
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert _notifies_the_topic(alarm)


@pytest.mark.parametrize("queue", WORK_QUEUES)
def test_every_work_queue_alarms_on_the_age_of_its_oldest_message(queue: str) -> None:
    (alarm,) = _alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]})
    # Longer than a healthy backlog (senders postpone a job up to 15 minutes on a provider's 429).
    assert 300 <= alarm["Threshold"] <= 3600
    assert _notifies_the_topic(alarm)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(function: str, metric: str) -> None:
    (alarm,) = _alarms_on("AWS/Lambda", metric, "FunctionName", {"Ref": function})
    assert alarm["Threshold"] == 0 and alarm["Statistic"] == "Sum"
    assert _notifies_the_topic(alarm)


def test_the_http_api_alarms_on_5xx() -> None:
    (alarm,) = _alarms_on("AWS/ApiGateway", "5xx", "ApiId", {"Ref": "HttpApi"})
    assert {"Name": "Stage", "Value": {"Ref": "Stage"}} in alarm["Dimensions"]
    assert _notifies_the_topic(alarm)


def test_alarm_email_is_optional_and_subscribes_to_the_topic() -> None:
    assert PARAMETERS["AlarmEmail"]["Default"] == ""
    pattern = re.compile(PARAMETERS["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("oncall@acme.example") and not pattern.fullmatch("oncall")
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


# ------------------------------------------------------------------------------------------------ dashboard


def _dashboard() -> dict[str, Any]:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(body)


def _metrics_shown() -> list[list[Any]]:
    shown = []
    for widget in _dashboard()["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            stat = widget["properties"]["stat"]
            options = metric[-1] if isinstance(metric[-1], dict) else {}
            shown.append([*(m for m in metric if not isinstance(m, dict)), options.get("stat", stat)])
    return shown


def _emitted_metric_names() -> set[str]:
    """Metric names the hub's code emits (literal names, and the worker's Deliveries<Status>)."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "shared").rglob("*.py"))
    names = set(re.findall(r'(?:add_metric\(name=|count\()"(\w+)"', source))
    if 'f"Deliveries{status.value.capitalize()}"' in source:
        names |= {"DeliveriesSent", "DeliveriesFailed", "DeliveriesRetrying", "DeliveriesSkipped"}
    return names


def test_the_dashboard_shows_notifications_per_channel_from_metrics_the_code_emits() -> None:
    namespace = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    shown = _metrics_shown()
    for metric in ("DeliveriesSent", "DeliveriesFailed", "JobsDeadLettered"):
        assert metric in _emitted_metric_names()
        channels = {m[m.index("channel") + 1] for m in shown if m[:2] == [namespace["Fn::Sub"], metric]}
        assert channels == set(SENDERS), metric
    # The worker puts the channel on what it counts.
    worker = (ROOT / "shared/workplace_hub/delivery/attempt.py").read_text(encoding="utf-8")
    assert 'add_dimension(name="channel"' in worker


def test_the_dashboard_shows_queues_dlqs_durations_cold_starts_and_throttles() -> None:
    shown = _metrics_shown()
    for queue in WORK_QUEUES:
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
            assert ["AWS/SQS", metric, "QueueName", f"${{{queue}.QueueName}}", "Maximum"] in shown
    for dlq in DLQS:
        assert [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            f"${{{dlq}.QueueName}}",
            "Maximum",
        ] in shown
    for function in FUNCTIONS:
        for stat in ("p50", "p99"):
            assert ["AWS/Lambda", "Duration", "FunctionName", f"${{{function}}}", stat] in shown
        assert ["AWS/Lambda", "Throttles", "FunctionName", f"${{{function}}}", "Sum"] in shown
        cold = [m for m in shown if m[1] == "ColdStart" and f"${{{function}}}" in m]
        assert cold and cold[0][2:4] == ["function_name", f"${{{function}}}"]


def test_every_function_emits_the_cold_start_metric() -> None:
    for function in FUNCTIONS:
        code_uri = RESOURCES[function]["Properties"]["CodeUri"]
        app = (ROOT / code_uri / "app.py").read_text(encoding="utf-8")
        assert "@metrics.log_metrics(capture_cold_start_metric=True)" in app, function


def test_the_dashboard_url_is_an_output() -> None:
    value = TEMPLATE_DOC["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert value.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/")
    assert value.endswith("#dashboards:name=${Dashboard}")


# ------------------------------------------------------------------------------------------------ retention


def test_the_key_that_opens_the_retained_data_is_retained_too() -> None:
    for name in ("HubKey", *DATA_TABLES):
        assert RESOURCES[name]["DeletionPolicy"] == "Retain", name
        assert RESOURCES[name]["UpdateReplacePolicy"] == "Retain", name


def test_data_tables_have_deletion_protection_a_parameter_may_turn_off() -> None:
    assert PARAMETERS["DataDeletionProtection"]["Default"] == "true"
    assert TEMPLATE_DOC["Conditions"]["ProtectsData"] == {"Fn::Equals": [{"Ref": "DataDeletionProtection"}, "true"]}
    for name in DATA_TABLES:
        assert RESOURCES[name]["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectsData", True, False]}


# ------------------------------------------------------------------------------------------------ throttling


def test_every_api_route_is_throttled_by_parameters_with_defaults() -> None:
    settings = RESOURCES["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    assert 0 < PARAMETERS["ApiThrottlingRateLimit"]["Default"] <= PARAMETERS["ApiThrottlingBurstLimit"]["Default"]


def _sizing(row: str, key: str) -> int:
    return int(TEMPLATE_DOC["Mappings"]["Sizing"][row][key])


@pytest.mark.parametrize("function", ["RouterFunction", *API_FUNCTIONS])
def test_the_router_and_the_api_functions_reserve_their_concurrency_from_the_sizing(function: str) -> None:
    key = f"{function.removesuffix('Function')}ReservedConcurrency"
    reserved = RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": [
            "ReservesConcurrency",
            {"Fn::FindInMap": ["Sizing", {"Ref": "Sizing"}, key]},
            {"Ref": "AWS::NoValue"},
        ]
    }
    for row in ("stg", "prod"):
        assert _sizing(row, key) >= 1


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f.startswith("Send") or f == "RegisterCalendarsFunction"])
def test_every_sqs_worker_reserves_what_its_trigger_may_run(function: str) -> None:
    properties = RESOURCES[function]["Properties"]
    (event,) = properties["Events"].values()
    maximum = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert properties["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesConcurrency", maximum, {"Ref": "AWS::NoValue"}]
    }


def test_the_routers_sqs_trigger_runs_at_most_its_reserved_concurrency() -> None:
    (event,) = RESOURCES["RouterFunction"]["Properties"]["Events"].values()
    maximum = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert maximum == {"Fn::FindInMap": ["Sizing", {"Ref": "Sizing"}, "RouterMaximumConcurrency"]}
    for row in TEMPLATE_DOC["Mappings"]["Sizing"]:
        assert _sizing(row, "RouterMaximumConcurrency") >= 2  # SQS's minimum
    for row in ("stg", "prod"):
        assert _sizing(row, "RouterMaximumConcurrency") <= _sizing(row, "RouterReservedConcurrency")


def test_only_the_dev_sizing_reserves_nothing() -> None:
    not_dev = {"Fn::Not": [{"Fn::Equals": [{"Ref": "Sizing"}, "dev"]}]}
    assert TEMPLATE_DOC["Conditions"]["ReservesConcurrency"] == not_dev
    assert PARAMETERS["Sizing"]["AllowedValues"] == list(TEMPLATE_DOC["Mappings"]["Sizing"])


# ------------------------------------------------------------------------------------------------ least privilege

# What each function's code does on each table (audited from wiring/ and the repositories it builds:
# README "Least privilege" has the audit). A grant the code does not need fails here, and so does a missing one.
SENDER_GRANTS = {
    "SettingsTable": {"Query", "GetItem", "UpdateItem"},  # settings; the data key; save_status
    "LinksTable": {"BatchGetItem", "UpdateItem"},  # get_many; addresses found by lookup, link health
    # claims (a window's: read by BatchGetItem, claimed in a transaction of UpdateItems), outcomes, dead letters
    "DeliveriesTable": {"GetItem", "BatchGetItem", "UpdateItem", "BatchWriteItem"},
    "RateLimitsTable": {"UpdateItem"},  # token buckets
}
EXPECTED_GRANTS: dict[str, dict[str, set[str]]] = {
    "SettingsApiFunction": {
        "SettingsTable": {"Query", "GetItem", "PutItem", "UpdateItem"},
        "LinksTable": {"GetItem", "Query", "UpdateItem"},
        "DeliveriesTable": {"Query", "UpdateItem"},
    },
    "RouterFunction": {
        "SettingsTable": {"Query", "PutItem"},  # settings; save_product (conditional put)
        "LinksTable": {"BatchGetItem"},
        "DeliveriesTable": {"Query", "BatchWriteItem"},
        "IdempotencyTable": {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},  # powertools idempotency
        "AbsencesTable": {"UpdateItem"},
    },
    **{f"Send{name}Function": SENDER_GRANTS for name in ("Slack", "GoogleChat", "Line", "NaverWorks", "Kakao")},
    "RegisterCalendarsFunction": {
        "SettingsTable": {"Query", "GetItem", "UpdateItem"},
        "LinksTable": {"GetItem", "UpdateItem"},
        "DeliveriesTable": {"Query", "BatchWriteItem"},
        "AbsencesTable": {"GetItem", "UpdateItem"},
    },
    "KakaoResultsFunction": {
        "SettingsTable": {"Query", "GetItem"},  # settings; the data key (already created: credentials are sealed)
        "DeliveriesTable": {"Query", "UpdateItem", "BatchWriteItem"},  # an event's records, results, dead letters
    },
    "LinkingFunction": {
        "SettingsTable": {"Query", "GetItem", "PutItem"},  # a first sealed token creates the data key
        "LinksTable": {"GetItem", "UpdateItem"},
        "OAuthStateTable": {"PutItem", "DeleteItem"},
    },
    "LineWebhookFunction": {
        "SettingsTable": {"Query", "GetItem"},
        "LinksTable": {"GetItem", "Query", "UpdateItem"},  # Query: the ByLineUser index
    },
    "ConsoleFunction": {},  # static files: the browser calls the API with the user's token
}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Tables a function only reads: no write action may be granted on them.
READ_ONLY = {
    ("RouterFunction", "LinksTable"),
    ("LineWebhookFunction", "SettingsTable"),
    ("KakaoResultsFunction", "SettingsTable"),
}
# Grants that also need the table's indexes (a Query with IndexName).
INDEXED = {("SettingsApiFunction", "DeliveriesTable"), ("LineWebhookFunction", "LinksTable")}


def _dynamodb_grants(function: str) -> tuple[dict[str, set[str]], set[str]]:
    """table logical id → DynamoDB actions granted; and the tables whose indexes are granted too."""
    grants: dict[str, set[str]] = {}
    indexed: set[str] = set()
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        assert not (isinstance(policy, dict) and any(k.startswith("DynamoDB") for k in policy)), (
            f"{function}: SAM's DynamoDB policy templates grant Scan, DeleteItem, BatchWriteItem... wholesale"
        )
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = [a for a in statement["Action"] if a.startswith("dynamodb:")]
            if not actions:
                continue
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                if "Fn::GetAtt" in resource:
                    table = ".".join(resource["Fn::GetAtt"]).removesuffix(".Arn")
                    grants.setdefault(table, set()).update(a.removeprefix("dynamodb:") for a in actions)
                else:
                    (table,) = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/\*", resource["Fn::Sub"]).groups()  # type: ignore[union-attr]
                    indexed.add(table)
    return grants, indexed


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_granted_exactly_the_dynamodb_actions_its_code_uses(function: str) -> None:
    grants, indexed = _dynamodb_grants(function)
    assert grants == EXPECTED_GRANTS[function]
    assert indexed == {table for f, table in INDEXED if f == function}
    assert all("Scan" not in actions for actions in grants.values())  # no code path scans a table


@pytest.mark.parametrize(("function", "table"), sorted(READ_ONLY))
def test_read_only_functions_have_no_write_action_on_what_they_read(function: str, table: str) -> None:
    grants, _ = _dynamodb_grants(function)
    assert grants[table] and not grants[table] & WRITES


def test_every_function_of_the_template_is_audited() -> None:
    assert set(EXPECTED_GRANTS) == set(FUNCTIONS)


def test_the_access_log_says_why_a_request_failed() -> None:
    log_format = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    fields = json.loads(log_format)
    for variable in ("$context.error.message", "$context.integrationErrorMessage", "$context.authorizer.error"):
        assert variable in fields.values()
    # Still no query strings or headers (tokens, OAuth codes).
    assert not [v for v in fields.values() if "querystring" in v.lower() or "header" in v.lower()]


# ------------------------------------------------------------------------------------------------ outputs


def test_outputs_give_every_url_an_admin_pastes() -> None:
    outputs = {name: output["Value"] for name, output in TEMPLATE_DOC["Outputs"].items()}
    assert outputs["LineLoginCallbackUrl"] == {"Fn::Sub": "${HubPublicUrl}/oauth/line/callback"}
    assert outputs["LineWebhookUrlPattern"] == {"Fn::Sub": "${HubPublicUrl}/webhooks/line/{company_id}"}
    assert outputs["GoogleOAuthRedirectUri"] == {"Fn::Sub": "${HubPublicUrl}/oauth/google/callback"}
    assert outputs["NaverWorksRedirectUri"] == {"Fn::Sub": "${HubPublicUrl}/oauth/naver_works/callback"}
    assert outputs["WorkplaceEventsQueueUrl"] == {"Ref": "WorkplaceEventsQueue"}
    assert outputs["WorkplaceEventsQueueArn"] == {"Fn::GetAtt": ["WorkplaceEventsQueue", "Arn"]}
    for dlq in DLQS:
        assert outputs[f"{dlq}Url"] == {"Ref": dlq}
        assert outputs[f"{dlq}Arn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    assert "DashboardUrl" in outputs and outputs["AlarmTopicArn"] == {"Ref": "AlarmTopic"}


def test_the_callback_urls_match_the_routes_the_functions_serve() -> None:
    paths = {
        event["Properties"]["Path"]
        for function in FUNCTIONS
        for event in RESOURCES[function]["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    assert {"/oauth/{provider}/callback", "/webhooks/line/{company_id}"} <= paths


def test_hub_public_url_takes_no_trailing_slash() -> None:
    # The outputs append paths to it.
    pattern = re.compile(PARAMETERS["HubPublicUrl"]["AllowedPattern"])
    assert pattern.fullmatch("https://hub.acme.example") and not pattern.fullmatch("https://hub.acme.example/")


# ------------------------------------------------------------------------------------------------ deploy configs

ENVIRONMENTS = ("dev", "stg", "prod")


def _overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    pairs = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return {name: value.strip('"') for name, value in (pair.split("=", 1) for pair in pairs)}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_gives_every_parameter_a_valid_value(environment: str) -> None:
    overrides = _overrides(environment)
    # Every parameter is set (none left to a prompt or to a default nobody chose) and none is unknown.
    assert set(overrides) == set(PARAMETERS)
    assert overrides["Stage"] == environment and overrides["Sizing"] == environment
    for name, value in overrides.items():
        spec = PARAMETERS[name]
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (name, value)
        if spec["Type"] == "Number":
            assert int(value) >= int(spec.get("MinValue", 0)), (name, value)
    assert overrides["WorkplaceJwksUrl"].startswith("https://")


def test_production_keeps_its_data_protected() -> None:
    assert _overrides("prod")["DataDeletionProtection"] == "true"
    assert _overrides("stg")["DataDeletionProtection"] == "true"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_make_deploy_runs_sam_build_and_deploy_for_a_known_environment(environment: str) -> None:
    result = subprocess.run(
        ["make", "-n", "deploy", f"ENV={environment}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert f"sam build --template template.yaml --config-env {environment}" in result.stdout
    assert f"sam deploy --config-env {environment}" in result.stdout


@pytest.mark.parametrize("environment", ["", "qa", "dev stg"])
def test_make_deploy_refuses_an_unknown_environment(environment: str) -> None:
    result = subprocess.run(["make", "-n", "deploy", f"ENV={environment}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ENV must be one of: dev stg prod" in result.stderr
    assert "sam deploy" not in result.stdout


def test_dashboard_and_alarm_resources_are_ones_the_local_stack_ignores() -> None:
    # The local stack creates tables, queues, keys and secrets only; everything else is CloudFormation's.
    from infra.local_stack import aws as local_aws

    source = Path(local_aws.__file__).read_text(encoding="utf-8")
    created = set(re.findall(r'resources_of_type\(template, "([\w:]+)"\)', source))
    assert created == {"AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::DynamoDB::Table", "AWS::SQS::Queue"}
