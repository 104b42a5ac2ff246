"""The hub's local stack: moto (DynamoDB, SQS, KMS, Secrets Manager) with the template's resources,
an HTTP gateway in front of the real API handlers, SQS pollers feeding the real functions, a dev
token issuer, and the provider sandbox. All on loopback."""

import sys
from pathlib import Path

# `python -m infra.local_stack` from the checkout, without PYTHONPATH: the hub's own package lives in shared/
# (on Lambda it comes from a layer), and the functions are imported from the checkout's root.
for _path in (Path(__file__).resolve().parents[2], Path(__file__).resolve().parents[2] / "shared"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from infra.local_stack.stack import LocalStack  # noqa: E402 - needs the paths above

__all__ = ["LocalStack"]
