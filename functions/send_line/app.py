"""SendLineQueue → LINE messages (push, or multicast to many), each at most once."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from workplace_hub.observability import logger, metrics
from workplace_hub.wiring import build_worker

worker = build_worker("line")
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=worker.handle_record, processor=processor, context=context
    )
