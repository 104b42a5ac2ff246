"""`make run`: the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from pathlib import Path

from infra.local_stack.persistence import StateUnreadableError
from infra.local_stack.stack import (
    AWS_STATE_FILE,
    DEV_ADMIN,
    DEV_COMPANY,
    DEV_MEMBER,
    SIGNING_KEY_FILE,
    STATE_DIR,
    LocalStack,
    PortInUseError,
)
from infra.sandbox import latency

# Saved settings reach the next event at once (deployed functions cache them for 30 s by default).
LOCAL_SETTINGS_CACHE_SECONDS = "0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local_stack",
        description='Run the WORKPLACE integration hub locally (make run ARGS="..." passes these options).',
    )
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--sandbox-port", type=int, default=4010)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help="where the stack keeps its state, signing key and stack.json (default: .local/)",
    )
    parser.add_argument(
        "--workplace-origin",
        default="'none'",
        help="the WORKPLACE origin(s) that may frame the console (CSP frame-ancestors; default 'none')",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="start from empty tables, queues, secrets and keys, and a new signing key (old tokens stop working)",
    )
    parser.add_argument(
        "--latency",
        type=latency.argument,
        default={},
        help=(
            "the sandbox's providers answer after a delay: realistic (Slack 250 ms, Google Chat 150, LINE 60, NAVER"
            " WORKS 80, SENS 120, each +20%% jitter), or e.g. slack=250,google_chat=150+30 (ms), or realistic,slack=400"
        ),
    )
    return parser.parse_args(argv)


def forget_state(state_dir: Path) -> None:
    """What --clean drops: the AWS state and the signing key of earlier runs."""
    for name in (AWS_STATE_FILE, SIGNING_KEY_FILE):
        (state_dir / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("SETTINGS_CACHE_SECONDS", LOCAL_SETTINGS_CACHE_SECONDS)
    if args.clean:
        forget_state(args.state_dir)
    stack = LocalStack(
        moto_port=args.aws_port,
        gateway_port=args.api_port,
        sandbox_port=args.sandbox_port,
        state_dir=args.state_dir,
        persist=True,
        workplace_origin=args.workplace_origin,
        latency=args.latency,
    )
    try:
        stack.start()
    except PortInUseError as error:
        raise SystemExit(
            f"{error}: stop what listens there, or choose other ports "
            '(make run ARGS="--api-port N --aws-port N --sandbox-port N")'
        ) from None
    except StateUnreadableError as error:
        raise SystemExit(str(error)) from None
    path = stack.write_description()
    # What was written, not a second description(): that would mint other tokens than stack.json's.
    description = json.loads(path.read_text())
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

  Console as the admin (open in a browser; the token stays in the fragment, never sent to a server):
    {stack.console_url(description["tokens"]["admin"])}
  Console as the member:
    {stack.console_url(description["tokens"]["member"])}

  All of this is in {path}. More tokens: make token COMPANY=... USER_ID=... ROLE=admin|member
  Tables, queues, secrets and keys are kept in {args.state_dir} when it stops (make run ARGS=--clean: start empty).
  Ctrl-C stops it.
""",
        flush=True,
    )
    stopped = threading.Event()
    # Ctrl-C, kill and a closed terminal all stop it the same way, saving the state (a background job started
    # by a script inherits SIGINT ignored: set it all the same).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
