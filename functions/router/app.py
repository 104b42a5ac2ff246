"""WorkplaceEventsQueue → delivery records and per-provider send jobs."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from workplace_hub.observability import logger, metrics
from workplace_hub.pipeline.batch import process_partial_response
from workplace_hub.wiring import build_router

router = build_router()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    router.start_invocation(context)
    return process_partial_response(event, router.handle_record, context)
