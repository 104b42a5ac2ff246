"""Part 1b: cold init of each function from the built artifacts, as Lambda's python3.11 runtime imports them,
vs `import boto3; boto3.client("dynamodb")` in the same rounds (see `_lambda_child.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.bench import report
from infra.bench.cold_import import FunctionSpec, discover
from infra.template import ROOT, Resolver

LAMBDA_CHILD = Path(__file__).with_name("_lambda_child.py")
LAYERS = ("DepsLayer", "SharedLayer")
# Only for the measured "with powertools' Tracer" variant: the layer does not ship the X-Ray SDK.
XRAY_SDK = ("aws-xray-sdk==2.15.0", "wrapt==2.5.2")
_COMPILE = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]


def build_host_artifacts(into: Path, specs: list[FunctionSpec], *, xray_sdk: bool = True) -> dict[str, Path]:
    """This machine's copy of what `make build` ships: the same Makefile recipes and lock, x86_64 wheels.

    .aws-sam/ holds arm64 wheels, which cannot be imported here. Returns {logical id: directory}.
    """
    built: dict[str, Path] = {}
    for layer, source in (("DepsLayer", ROOT / "layers" / "deps"), ("SharedLayer", ROOT / "shared")):
        built[layer] = into / layer
        make = [shutil.which("make") or "make", "-s", "-C", str(source), f"build-{layer}"]
        variables = [f"ARTIFACTS_DIR={built[layer]}", "PIP_TARGET_PLATFORM=", f"PYTHON={sys.executable}"]
        subprocess.run([*make, *variables], check=True)  # noqa: S603
    for spec in specs:
        target = built[spec.logical_id] = into / spec.logical_id
        shutil.copytree(spec.code_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, *_COMPILE, str(target)], check=True)  # noqa: S603
    if xray_sdk:
        target = built["XRaySdk"] = into / "XRaySdk"
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:", "--no-compile"]
        subprocess.run([*pip, "--target", str(target / "python"), *XRAY_SDK], check=True)  # noqa: S603
        subprocess.run([sys.executable, *_COMPILE, str(target / "python")], check=True)  # noqa: S603
    return built


def _lambda_child(spec: FunctionSpec, built: dict[str, Path], mode: str, *, tracer: bool = False) -> dict[str, Any]:
    path = [str(built[spec.logical_id]), *(str(built[layer] / "python") for layer in LAYERS)]
    if tracer:
        path.append(str(built["XRaySdk"] / "python"))
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(spec.environment)
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        LAMBDA_TASK_ROOT=str(built[spec.logical_id]),
        AWS_LAMBDA_FUNCTION_NAME=spec.logical_id,
        AWS_EXECUTION_ENV="AWS_Lambda_python3.11",
    )
    # What Lambda sets in every function's environment (the credentials: its role's, found first in the chain).
    env.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-1"))
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env.setdefault("AWS_SESSION_TOKEN", "testing")
    request = {"path": path, "module": spec.module, "attribute": spec.attribute, "mode": mode, "tracer": tracer}
    args = [sys.executable, "-S", str(LAMBDA_CHILD), json.dumps(request)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)  # noqa: S603
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH-CHILD ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"cold init of {spec.name} ({mode}) failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(line.removeprefix("BENCH-CHILD "))


def measure_built(spec: FunctionSpec, built: dict[str, Path], repetitions: int) -> dict[str, Any]:
    """Handler, boto3 baseline (and handler with the Tracer) in turn, `repetitions` times: each a fresh process."""
    sides = {
        "baseline": lambda: _lambda_child(spec, built, "baseline"),
        "handler": lambda: _lambda_child(spec, built, "handler"),
        **({"tracer": lambda: _lambda_child(spec, built, "handler", tracer=True)} if "XRaySdk" in built else {}),
    }
    probe = sides["handler"]()  # warm-up (page cache); also says where boto3 came from
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for repetition in range(repetitions):
        # Rotate the order so that drift on a noisy machine hits every side alike.
        order = list(sides)
        for side in order[repetition % len(order) :] + order[: repetition % len(order)]:
            runs[side].append(sides[side]())

    def wall(side: str) -> list[float]:
        return [run["seconds"] for run in runs[side]]

    def cpu(side: str) -> list[float]:
        return [run["cpu_seconds"] for run in runs[side]]

    # Ratios run by run (the handler against the baseline of the same round), then their median: steadier on a
    # shared machine than a ratio of medians taken at different moments.
    ratio = statistics.median(h / b for h, b in zip(wall("handler"), wall("baseline"), strict=True))
    cpu_ratio = statistics.median(h / b for h, b in zip(cpu("handler"), cpu("baseline"), strict=True))
    result = {
        "function": spec.name,
        "logical_id": spec.logical_id,
        "init_s_min": round(min(wall("handler")), 3),
        "init_s_median": round(statistics.median(wall("handler")), 3),
        "init_cpu_s_median": round(statistics.median(cpu("handler")), 3),
        "baseline_s_min": round(min(wall("baseline")), 3),
        "baseline_s_median": round(statistics.median(wall("baseline")), 3),
        "baseline_cpu_s_median": round(statistics.median(cpu("baseline")), 3),
        "ratio": round(ratio, 2),
        "cpu_ratio": round(cpu_ratio, 2),
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
        "with_tracer_s_median": None,
        "tracer_extra_s": None,
        "tracer_extra_cpu_s": None,
        "seconds": {side: [round(value, 3) for value in wall(side)] for side in runs},
        "boto3_from": probe["boto3"],
    }
    if "tracer" in runs:
        result["with_tracer_s_median"] = round(statistics.median(wall("tracer")), 3)
        result["tracer_extra_s"] = round(
            statistics.median(t - h for t, h in zip(wall("tracer"), wall("handler"), strict=True)), 3
        )
        result["tracer_extra_cpu_s"] = round(
            statistics.median(t - h for t, h in zip(cpu("tracer"), cpu("handler"), strict=True)), 3
        )
    return result


TARGET_RATIO = 1.5


def run_built(template: dict[str, Any], resolver: Resolver, repetitions: int) -> list[dict[str, Any]]:
    """Cold init (import + module-scope wiring) of every function from a host-arch build of the artifacts."""
    specs = discover(template, resolver)
    with tempfile.TemporaryDirectory(prefix="hub-built-") as scratch:
        built = build_host_artifacts(Path(scratch), specs)
        return [measure_built(spec, built, repetitions) for spec in specs]


def render(results: list[dict[str, Any]], repetitions: int) -> str:
    rows = [
        [
            r["logical_id"],
            f"{r['init_s_min']:.3f}",
            f"{r['init_s_median']:.3f}",
            f"{r['baseline_s_median']:.3f}",
            f"{r['ratio']:.2f}x",
            f"{r['cpu_ratio']:.2f}x",
            f"<= {r['target_ratio']:.1f}x",
            "met" if r["met"] else "NOT met",
            "" if r["tracer_extra_s"] is None else f"{r['tracer_extra_s'] * 1000:+.0f}",
            "" if r["tracer_extra_cpu_s"] is None else f"{r['tracer_extra_cpu_s'] * 1000:+.0f}",
        ]
        for r in results
    ]
    met = sum(r["met"] for r in results)
    boto3_from = sorted({str(r["boto3_from"]).rsplit("/python/", 1)[0].rsplit("/", 1)[-1] for r in results})
    return "\n".join(
        [
            "1b. Cold init from the built artifacts, as Lambda imports them (fresh process each run, median of"
            f" {repetitions}; figures, not asserts)",
            report.table(
                [
                    "function",
                    "init s min",
                    "init s median",
                    "boto3 s median",
                    "ratio",
                    "CPU ratio",
                    "target",
                    "",
                    "Tracer ms",
                    "Tracer CPU ms",
                ],
                rows,
                "lrrrrrrlrr",
            ),
            f"  {met} of {len(results)} functions within the target.",
            *report.wrap(
                "init = importing the handler module (its module-scope wiring included: settings, AWS clients, the"
                " router / worker / app) with the function directory, then the layers' python/ on the path, -S (no"
                ' site-packages), PYTHONDONTWRITEBYTECODE=1. boto3 = `import boto3; boto3.client("dynamodb")` the'
                " same way, in the same rounds: the least any function touching DynamoDB pays. ratio = median of the"
                " round-by-round ratios (wall clock); CPU ratio = the same with each process's CPU time, steadier when"
                " other work shares the machine."
            ),
            *report.wrap(
                "The artifacts: a host-arch (x86_64) copy built for this run with the recipes `make build` uses"
                " (layers/deps/Makefile from requirements.lock, shared/Makefile, handler modules compiled the same"
                " way); .aws-sam/ holds the arm64 wheels Lambda runs, which do not import here. boto3 came from:"
                f" {', '.join(boto3_from)}."
            ),
            *report.wrap(
                "Tracer ms = what powertools' Tracer adds to the same init (X-Ray SDK imported, libraries patched;"
                " median of the round-by-round differences): the cost of tracing with the SDK rather than with"
                ' Lambda\'s active tracing alone (README "Cold starts and tracing").'
            ),
        ]
    )
