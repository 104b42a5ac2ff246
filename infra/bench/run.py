"""Entry point of `make bench`: one local stack, the nine parts, tables on stdout, JSON in .local/."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from infra.bench import cold_import, cold_init
from infra.local_stack import LocalStack
from infra.sandbox import latency
from infra.template import ROOT, load_template

OUTPUT = ROOT / ".local" / "bench.json"
FUNCTION_LOG = ROOT / ".local" / "bench-function-logs.jsonl"
PROCESS_LOG = ROOT / ".local" / "bench-function-process-logs.jsonl"  # parts 8 and 9's function processes


PARTS = frozenset(range(1, 10))
LATENCY_PARTS = frozenset({8, 9})  # run at --latency; the others measure the hub's own machinery without any
# --quick: sizes for trying the benchmark out (each unless given on the command line); figures are not comparable.
QUICK = {
    "repetitions": 2,
    "rounds": 2,
    "provider_recipients": 200,
    "works_recipients": 40,
    "storm_seconds": 10.0,
    "apprise_rounds": 2,
    "e2e_events": 10,
    "e2e_recipients": 20,
    "sender_recipients": 50,
}


def _parts(text: str) -> frozenset[int]:
    parts = frozenset(int(part) for part in text.split(",") if part.strip())
    if not parts or not parts <= PARTS:
        raise argparse.ArgumentTypeError(f"parts are numbers 1-9, not {text!r}")
    return parts | ({2, 3} if parts & {2, 3} else frozenset())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__)
    parser.add_argument("--repetitions", type=int, default=7, help="cold imports per function and side")
    parser.add_argument("--rounds", type=int, default=6, help="throughput rounds (hub and floor each)")
    parser.add_argument("--events-per-round", type=int, default=2, help="events per throughput round")
    parser.add_argument("--recipients", type=int, default=50, help="recipients per event")
    parser.add_argument(
        "--provider-recipients", type=int, default=1000, help="recipients of the LINE and SENS events (part 4)"
    )
    parser.add_argument(
        "--works-recipients", type=int, default=200, help="recipients of each NAVER WORKS event (part 4)"
    )
    parser.add_argument("--storm-seconds", type=float, default=60.0, help="length of company A's 429 storm (part 6)")
    parser.add_argument("--apprise-rounds", type=int, default=6, help="rounds of hub, floor and Apprise (part 7)")
    parser.add_argument(
        "--apprise-events-per-round", type=int, default=2, help="events per channel, side and round (part 7)"
    )
    parser.add_argument("--apprise-recipients", type=int, default=50, help="recipients per event (part 7)")
    parser.add_argument("--e2e-events", type=int, default=100, help="events of the end-to-end run (part 8)")
    parser.add_argument("--e2e-recipients", type=int, default=100, help="recipients per event (part 8)")
    parser.add_argument(
        "--e2e-patience", type=float, default=1800.0, help="seconds a part 8 or 9 run waits for the queues to drain"
    )
    parser.add_argument(
        "--sender-recipients", type=int, default=1000, help="recipients of each channel's event (part 9)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="SEND_CONCURRENCY of part 9's concurrent side where template.yaml sets none (its sequential side: 1)",
    )
    parser.add_argument(
        "--latency",
        type=latency.argument,
        default=latency.parse_spec("realistic"),
        help="the providers' answer delay in parts 8 and 9: realistic (default), off, or e.g. slack=250,line=60+12"
        " (ms; infra/sandbox/latency.py)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a try-out: "
        + ", ".join(f"{name.replace('_', '-')} {value:g}" for name, value in QUICK.items()),
    )
    parser.add_argument(
        "--parts",
        type=_parts,
        default=PARTS,
        help="which parts to run, e.g. 7,8 (default: all; 2 and 3 run together)",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def _say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


def _quiet_function_logs(log: TextIO) -> None:
    """The functions log at INFO as in production; their lines go to a file instead of the report."""
    from workplace_hub import observability

    for function_logger in observability.service_loggers():  # one per function: each logs under its own name
        handler = function_logger.registered_handler
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log)


def _measure(stack: LocalStack, args: argparse.Namespace, log: TextIO, out: TextIO) -> dict[str, Any]:
    # The hub's modules are imported only once the stack has imported the functions:
    # workplace_hub.observability builds the shared Logger/Metrics from the environment at import,
    # and the stack imports it first under a function's environment (service name, metrics
    # namespace), as Lambda does.
    from infra.bench import (
        aws_calls,
        aws_cost,
        end_to_end,
        fairness,
        provider_calls,
        sender_time,
        shared_limits,
        throughput,
        versus_apprise,
    )
    from infra.bench.aws_calls import Instrumented
    from infra.bench.containers import load_container
    from infra.bench.scenario import Scenario

    _quiet_function_logs(log)
    # The benchmark feeds the functions itself: the stack's pollers must not consume its queues.
    for poller in stack.pollers:
        poller.stop()
    for poller in stack.pollers:
        poller.join(timeout=5)
    template = load_template()
    figures: dict[str, Any] = {}
    _say(out, f"WORKPLACE integration hub benchmark ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    _say(out, f"local stack: moto {stack.aws_endpoint_url}, sandbox {stack.sandbox.url}")
    _say(out)

    if 1 in args.parts:
        figures["cold_import"] = cold_import.run(template, stack.resolver, args.repetitions)
        _say(out, cold_import.render(figures["cold_import"], args.repetitions))
        _say(out)
        figures["cold_init_built"] = cold_init.run_built(template, stack.resolver, args.repetitions)
        _say(out, cold_init.render(figures["cold_init_built"], args.repetitions))
        _say(out)

    # Parts 2-4, 7 and 8 measure the hub's own cost against providers whose rate limits are off: the senders run
    # without the shared rate limit too (it would pace the recipients' repeated messages). Part 5 measures it.
    unpaced = shared_limits.without_shared_limits(template)
    if 2 in args.parts:
        scenario = Scenario.setup(stack, args.recipients)
        router = Instrumented(load_container(unpaced, stack.resolver, "RouterFunction"), scenario)
        sender = Instrumented(load_container(unpaced, stack.resolver, "SendSlackFunction"), scenario)
        figures["aws_calls"] = aws_calls.run(scenario, router, sender)  # first: the containers are still cold
        figures["throughput"] = throughput.run(
            scenario, router, sender, rounds=args.rounds, events_per_round=args.events_per_round
        )
        _say(out, throughput.render(figures["throughput"]))
        _say(out)
        _say(out, aws_calls.render(figures["aws_calls"]))
        _say(out)

    if 4 in args.parts:
        figures["provider_calls"] = provider_calls.run(
            stack, unpaced, stack.resolver, recipients=args.provider_recipients, works_recipients=args.works_recipients
        )
        _say(out, provider_calls.render(figures["provider_calls"]))
        _say(out)

    if 5 in args.parts:
        figures["shared_limits"] = shared_limits.run(stack, template, stack.resolver)
        _say(out, shared_limits.render(figures["shared_limits"]))
        _say(out)

    if 6 in args.parts:
        figures["fairness"] = fairness.run(stack, template, stack.resolver, seconds=args.storm_seconds)
        _say(out, fairness.render(figures["fairness"]))
        _say(out)

    if 7 in args.parts:
        figures["versus_apprise"] = versus_apprise.run(
            stack,
            unpaced,
            stack.resolver,
            rounds=args.apprise_rounds,
            events_per_round=args.apprise_events_per_round,
            recipients=args.apprise_recipients,
        )
        _say(out, versus_apprise.render(figures["versus_apprise"]))
        _say(out)

    profile = {name: value.as_dict() for name, value in sorted(args.latency.items())}
    if args.parts & LATENCY_PARTS:
        # Parts 8 and 9 run at this latency, the shared rate limit as deployed (part 8 also without it).
        stack.sandbox.latency.configure({"profile": "off", "providers": profile})
    if 8 in args.parts:
        figures["end_to_end"] = end_to_end.run(
            stack,
            template,
            stack.resolver,
            events=args.e2e_events,
            recipients=args.e2e_recipients,
            patience=args.e2e_patience,
            log_path=PROCESS_LOG,
            latency=profile,
        )
        _say(out, end_to_end.render(figures["end_to_end"]))
        _say(out)

    if 9 in args.parts:
        figures["sender_time"] = sender_time.run(
            stack,
            template,
            stack.resolver,
            recipients=args.sender_recipients,
            default_concurrency=args.concurrency,
            patience=args.e2e_patience,
            log_path=PROCESS_LOG,
            latency=profile,
        )
        _say(out, sender_time.render(figures["sender_time"]))
        _say(out)
        _say(out, aws_cost.render(figures["sender_time"]))
        _say(out)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    out = sys.stdout
    started = time.monotonic()
    figures: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "parameters": {k: _jsonable(v) for k, v in vars(args).items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    FUNCTION_LOG.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as state,
        FUNCTION_LOG.open("w") as log,
        contextlib.redirect_stdout(log),  # e.g. powertools' metric flushes print to stdout
    ):
        stack = LocalStack(state_dir=Path(state)).start()
        try:
            figures.update(_measure(stack, args, log, out))
        finally:
            stack.stop()
    figures["seconds"] = round(time.monotonic() - started, 1)
    args.output.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    logs = _relative(FUNCTION_LOG) + (f" and {_relative(PROCESS_LOG)}" if args.parts & LATENCY_PARTS else "")
    _say(out, f"figures written to {_relative(args.output)}; function logs in {logs}")
    _say(out, f"total {figures['seconds']:.0f} s")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, dict):
        return {key: item.as_dict() if hasattr(item, "as_dict") else item for key, item in value.items()}
    return value


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
