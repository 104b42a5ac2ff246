"""One cold init the way Lambda's python3.11 runtime does it; run as a script by cold_import.py, never imported.

argv[1] is JSON: {"path": [function dir, layers' python/ ...], "module": "app", "attribute": "lambda_handler",
"mode": "handler" | "baseline", "tracer": bool}. The interpreter runs with -S (no site-packages: only the given
path and the standard library, as on Lambda) and PYTHONDONTWRITEBYTECODE=1 (Lambda's read-only file system).
"handler" imports the handler module (module-scope wiring included); "baseline" is `import boto3;
boto3.client("dynamodb")`; "tracer" first builds powertools' Tracer as if on Lambda (X-Ray SDK imported, the
libraries patched). Prints one JSON line: the elapsed and CPU seconds and where `boto3` came from.
"""

import json
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    # The script's own directory is not on Lambda's path.
    sys.path[:] = [*spec["path"], *(entry for entry in sys.path[1:] if entry)]
    started, cpu_started = time.perf_counter(), time.process_time()
    if spec.get("tracer"):
        from aws_lambda_powertools import Tracer

        Tracer(service="workplace-hub")
    if spec["mode"] == "baseline":
        import boto3

        boto3.client("dynamodb")
    else:
        __import__(spec["module"])
        getattr(sys.modules[spec["module"]], spec["attribute"])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    boto3_file = getattr(sys.modules.get("boto3"), "__file__", None)
    print("BENCH-CHILD " + json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "boto3": boto3_file}))


main()
