"""`make run`: the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from infra.local_stack.stack import DEV_ADMIN, DEV_COMPANY, DEV_MEMBER, LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the WORKPLACE integration hub locally.")
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--sandbox-port", type=int, default=4010)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stack = LocalStack(moto_port=args.aws_port, gateway_port=args.api_port, sandbox_port=args.sandbox_port).start()
    path = stack.write_description()
    description = stack.description()
    print(
        f"""
WORKPLACE integration hub — local stack is up (loopback only)

  API (gateway)       {stack.api_url}        OpenAPI: {stack.api_url}/openapi.json
  AWS (moto server)   {stack.aws_endpoint_url}
  Provider sandbox    {stack.sandbox.url}     requests: {stack.sandbox.url}/_sandbox/requests
  Inbound queue       {stack.queues["WorkplaceEventsQueue"]}

  Admin token  ({DEV_ADMIN} @ {DEV_COMPANY}):
    {description["tokens"]["admin"]}
  Member token ({DEV_MEMBER} @ {DEV_COMPANY}):
    {description["tokens"]["member"]}

  All of this is in {path}. More tokens: make token COMPANY=... USER=... ROLE=admin|member
  Ctrl-C stops it.
""",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
