"""Employee account linking: OAuth starts and callbacks (LINE, Google, NAVER WORKS), personal calendars."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from workplace_hub.observability import logger, metrics
from workplace_hub.wiring import build_linking_api

app = build_linking_api()


# Never log the event: callback URLs carry authorization codes.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
