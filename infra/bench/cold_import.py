"""Part 1: cold import of each function's handler module vs. importing only what it pulls in from elsewhere.

Each measurement is a fresh interpreter (`_child.py`) with the function's template environment set
(AWS_ENDPOINT_URL pointing at the local moto server: the module-scope builders create clients but
make no calls). The baseline imports exactly the non-first-party modules (third-party and stdlib,
submodules included) that the handler import loaded, in the same order; the difference is the hub's
own module bodies plus its module-scope builders (boto3 clients, settings models, the router/worker).
A second baseline also creates the boto3 clients the handler's builders create (recorded in a probe run):
what any boto3 user pays for them, so that what remains of the difference is the hub's own code.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.template import ROOT, Resolver, function_environment, resources_of_type

CHILD = Path(__file__).with_name("_child.py")
FIRST_PARTY_EXTRA = frozenset({"functions", "infra"})


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    attribute: str
    environment: dict[str, str]

    @property
    def name(self) -> str:
        return self.code_dir.name


def discover(template: dict[str, Any], resolver: Resolver) -> list[FunctionSpec]:
    global_handler = template.get("Globals", {}).get("Function", {}).get("Handler", "app.lambda_handler")
    specs = []
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource["Properties"]
        module, attribute = properties.get("Handler", global_handler).rsplit(".", 1)
        specs.append(
            FunctionSpec(
                logical_id,
                ROOT / properties["CodeUri"].strip("/"),
                module,
                attribute,
                function_environment(template, logical_id, resolver),
            )
        )
    return sorted(specs, key=lambda spec: spec.name)


def first_party(spec: FunctionSpec) -> frozenset[str]:
    shared = {path.name for path in (ROOT / "shared").iterdir() if (path / "__init__.py").exists()}
    return frozenset({spec.module.split(".")[0], *shared, *FIRST_PARTY_EXTRA})


def _child(spec: FunctionSpec, request: dict[str, Any], *, importtime: bool = False) -> tuple[dict[str, Any], str]:
    env = {**os.environ, **spec.environment}
    request = {"path": [str(spec.code_dir)], "module": spec.module, "attribute": spec.attribute, **request}
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), str(CHILD), json.dumps(request)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)  # noqa: S603
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH-CHILD ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"cold import of {spec.name} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(line.removeprefix("BENCH-CHILD ")), done.stderr


def _importtime(stderr: str, own: frozenset[str], handler_module: str) -> dict[str, Any]:
    """Self time (ms) of first-party modules from `-X importtime` (that flag's own overhead included)."""
    selfs: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        selfs[name] = selfs.get(name, 0.0) + int(self_us) / 1000
    mine = {name: ms for name, ms in selfs.items() if name.split(".")[0] in own}
    return {
        "builders_ms": round(mine.get(handler_module, 0.0), 1),
        "first_party_bodies_ms": round(sum(ms for name, ms in mine.items() if name != handler_module), 1),
        "slowest_first_party": [
            [name, round(ms, 1)] for name, ms in sorted(mine.items(), key=lambda item: -item[1])[:5]
        ],
    }


def measure(spec: FunctionSpec, repetitions: int) -> dict[str, Any]:
    own = first_party(spec)
    # Warm-up (bytecode caches, page cache) and discovery of what the handler import loads.
    probe, _ = _child(spec, {"mode": "handler", "record_clients": True})
    deps = [name for name in probe["loaded"] if name.split(".")[0] not in own]
    requests = {
        "handler": {"mode": "handler"},
        "deps": {"mode": "deps", "modules": deps},
        # What any boto3 user pays on top of the imports for the same clients (botocore's first client parses
        # its endpoint and partition data): the rest of the handler's extra time is the hub's own.
        "deps_clients": {"mode": "deps_clients", "modules": deps, "clients": probe["clients"]},
    }
    warm_deps, _ = _child(spec, requests["deps"])
    timings: dict[str, list[float]] = {side: [] for side in requests}
    for repetition in range(repetitions):
        # Rotate the order so that drift on a noisy machine hits every side alike.
        sides = list(requests)
        for mode in sides[repetition % 3 :] + sides[: repetition % 3]:
            result, _ = _child(spec, requests[mode])
            timings[mode].append(result["seconds"] * 1000)
    handler_ms, deps_ms, clients_ms = timings["handler"], timings["deps"], timings["deps_clients"]
    _, stderr = _child(spec, {"mode": "handler"}, importtime=True)
    handler_median, deps_median = statistics.median(handler_ms), statistics.median(deps_ms)
    tops = sorted({name.split(".")[0] for name in deps})
    return {
        "function": spec.name,
        "logical_id": spec.logical_id,
        "handler_module": spec.module,
        "handler_ms_median": round(handler_median, 1),
        "deps_only_ms_median": round(deps_median, 1),
        "ratio": round(handler_median / deps_median, 2),
        "ratio_of_minimums": round(min(handler_ms) / min(deps_ms), 2),
        "hub_own_ms": round(handler_median - deps_median, 1),
        "boto3_clients": probe["clients"],
        "deps_and_clients_ms_median": round(statistics.median(clients_ms), 1),
        "ratio_to_deps_and_clients": round(handler_median / statistics.median(clients_ms), 2),
        "handler_ms": [round(ms, 1) for ms in handler_ms],
        "deps_only_ms": [round(ms, 1) for ms in deps_ms],
        "modules_loaded_by_handler": len(probe["loaded"]),
        "first_party_modules": len(probe["loaded"]) - len(deps),
        "baseline_modules": len(deps),
        "baseline_import_failures": warm_deps["failed"],
        "baseline_missing": sorted(set(deps) - set(warm_deps["loaded"]) - set(warm_deps["failed"])),
        "third_party_packages": [name for name in tops if name not in sys.stdlib_module_names],
        "importtime_breakdown": _importtime(stderr, own, spec.module),
    }


def run(template: dict[str, Any], resolver: Resolver, repetitions: int) -> list[dict[str, Any]]:
    return [measure(spec, repetitions) for spec in discover(template, resolver)]


# ---------------------------------------------------------------- cold init from the built artifacts

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
