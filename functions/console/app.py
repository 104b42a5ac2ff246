"""The web console: its static files (assets/), with a CSP only WORKPLACE's origin may frame."""

from pathlib import Path

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from workplace_hub.config import ConsoleSettings, load_settings
from workplace_hub.console import ConsoleSite, load_assets
from workplace_hub.observability import logger, metrics

site = ConsoleSite(load_assets(Path(__file__).parent / "assets"), load_settings(ConsoleSettings).WORKPLACE_ORIGIN)


# Never log the event: nothing in it is a secret today, but the console's URLs are the user's.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return site.respond(event)
