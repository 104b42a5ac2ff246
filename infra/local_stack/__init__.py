"""The hub's local stack: moto (DynamoDB, SQS, KMS, Secrets Manager) with the template's resources,
an HTTP gateway in front of the real API handlers, SQS pollers feeding the real functions, a dev
token issuer, and the provider sandbox. All on loopback."""

from infra.local_stack.stack import LocalStack

__all__ = ["LocalStack"]
