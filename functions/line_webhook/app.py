"""POST /webhooks/line/{company_id}: LINE follow/unfollow, signature-checked per company."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from workplace_hub.observability import logger, metrics
from workplace_hub.wiring import build_line_webhook

webhook = build_line_webhook()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return webhook.handle_http(event)
