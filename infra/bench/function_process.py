"""One function container in a process of its own, fed by its event source mapping (part 8's child processes).

Started by end_to_end.py with multiprocessing's "spawn" (a fresh interpreter, nothing inherited but the
environment: the AWS endpoint, credentials and provider hosts the local stack exported). The function's template
environment is set before anything of the hub is imported, because `workplace_hub.observability` builds its
logger and metrics from the environment at import, as in Lambda. The container is then loaded by
`containers.load_container` (its real handler module, a cold start), and fed like an SQS event source mapping:
receive up to BatchSize (long poll, 1 s), invoke, delete what succeeded; a batch whose every record failed stays
on the queue, as Lambda leaves it.

Only what a Lambda container would load is imported here: the package `infra.local_stack` is registered without
running its `__init__` (which imports the whole stack: moto's server, the sandbox, the gateway), so that
containers.py finds `infra.local_stack.functions` and `.poller` without them, and the SQS client is made with
boto3 directly. The process's peak RSS is then the function's own (plus this small pump and the interpreter's
multiprocessing bootstrap); the child reports which of moto / the sandbox / the gateway were loaded (none
should be). Nothing of the hub is imported at this module's top: the parent imports it too.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import types
import warnings
from typing import Any

# Modules of the local stack itself, which a function's process must not carry.
FOREIGN = ("moto", "flask", "werkzeug", "infra.sandbox", "infra.local_stack.stack", "infra.local_stack.gateway")


def memory_kib() -> dict[str, int]:
    """This process's resident set (VmRSS) and its peak so far (VmHWM), in KiB, from /proc/self/status."""
    figures: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    figures[name] = int(value.split()[0])
    except OSError:
        import resource

        figures["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return figures


def bare(ready: Any) -> None:
    """A spawned interpreter that loads nothing: the baseline RSS under every function's."""
    ready.put({"logical_id": "bare", **memory_kib()})


def serve(spec: dict[str, Any], ready: Any, stop: Any, results: Any) -> None:
    """Child entry point. spec: logical_id, template (as deployed for this run), resolver, log_path, and
    "environment": variables set over the function's own (e.g. SEND_CONCURRENCY).

    The function's AWS calls are counted with botocore hooks on the clients its container built (probes.AwsCalls);
    the pump's own SQS calls (the event source mapping's, billed as SQS requests too) apart."""
    entered = time.perf_counter()
    logical_id = spec["logical_id"]
    started_ready = False
    log = open(spec["log_path"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - the child's whole life
    sys.stdout = sys.stderr = log
    try:
        from infra.template import ROOT, function_environment

        template, resolver = spec["template"], spec["resolver"]
        os.environ.update(function_environment(template, logical_id, resolver))
        os.environ.update(spec.get("environment") or {})
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        package = types.ModuleType("infra.local_stack")
        package.__path__ = [str(ROOT / "infra" / "local_stack")]
        sys.modules.setdefault("infra.local_stack", package)
        import boto3
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
        from botocore.client import BaseClient

        from infra.bench.containers import load_container
        from infra.bench.probes import AwsCalls
        from infra.local_stack.poller import sqs_event
        from workplace_hub import observability

        handler = observability.logger.registered_handler
        if hasattr(handler, "setStream"):
            handler.setStream(log)
        container = load_container(template, resolver, logical_id, spec.get("environment"))
        cold_start = time.perf_counter() - entered  # every import, the handler module and its module-scope clients
        sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        names = {value: name for name, value in resolver.refs.items()}
        names.update({value: name for (name, _), value in resolver.attributes.items()})
        calls, mapping = AwsCalls(names), AwsCalls(names)
        calls.attach(container.find(BaseClient))
        mapping.attach([sqs])
        url = resolver.refs[container.queue_logical_id]
        arn = resolver.attributes[(container.queue_logical_id, "Arn")]
        foreign = sorted(name for name in FOREIGN if name in sys.modules)
        ready.put(
            {
                "logical_id": logical_id,
                "pid": os.getpid(),
                "cold_start_seconds": cold_start,
                "foreign_modules": foreign,
                **memory_kib(),
            }
        )
        started_ready = True
        stats = {
            "invocations": 0,
            "records": 0,
            "failed_records": 0,
            "function_seconds": 0.0,
            "handler_cpu_seconds": 0.0,  # the process's CPU (every thread) while the handler ran: not the poller's
            "empty_polls": 0,
        }
        cpu = time.process_time()
        while not stop.is_set():
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=container.batch_size,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                stats["empty_polls"] += 1
                continue
            began, began_cpu = time.perf_counter(), time.process_time()
            try:
                result = container.function.invoke(sqs_event(messages, arn)) or {}
            except BatchProcessingError:
                result = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
            stats["function_seconds"] += time.perf_counter() - began
            stats["handler_cpu_seconds"] += time.process_time() - began_cpu
            stats["invocations"] += 1
            stats["records"] += len(messages)
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
            stats["failed_records"] += len(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
        results.put(
            {
                "logical_id": logical_id,
                **stats,
                "cpu_seconds": time.process_time() - cpu,
                **memory_kib(),
                "aws": _counted(calls),
                "mapping_aws": _counted(mapping),
            }
        )
    except BaseException:
        failure = {"logical_id": logical_id, "error": traceback.format_exc()}
        print(failure["error"], file=log)
        (results if started_ready else ready).put(failure)
    finally:
        log.flush()


def _counted(calls: Any) -> dict[str, Any]:
    """What a child's AwsCalls counted, in a picklable form: calls and write items per "service op resource"."""
    return {
        "calls": {" ".join(key): n for key, n in calls.counts.items()},
        "sized_units": {" ".join(key): n for key, n in calls.sized_units.items()},
        "unsized_items": {" ".join(key): n for key, n in calls.unsized_items.items()},
        "read_items": {" ".join(key): n for key, n in calls.read_items.items() if n},
        "sqs_chunks": {" ".join(key): n for key, n in calls.sqs_chunks.items() if n},
        "seconds": {" ".join(key): s for key, s in calls.seconds.items()},
    }
