"""The one Logger and Metrics instance every module shares.

No powertools Tracer: it imports the X-Ray SDK and patches botocore and requests, in every cold start; the
functions' active tracing (template.yaml) traces each invocation without it (README "Cold starts and tracing").
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

SERVICE = "workplace-hub"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
# A namespace even when the environment has none, so an automatic flush (every 100 metrics) never fails.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "WorkplaceHub"))
