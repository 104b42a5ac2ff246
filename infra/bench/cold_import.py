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
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.bench import report
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


def _clients(results: list[dict[str, Any]]) -> str:
    per_function = sorted({" + ".join(r["boto3_clients"]) for r in results})
    return "; ".join(per_function) or "none"


def render(results: list[dict[str, Any]], repetitions: int) -> str:
    rows = []
    for r in results:
        b = r["importtime_breakdown"]
        rows.append(
            [
                r["function"],
                f"{r['handler_ms_median']:.1f}",
                f"{r['deps_only_ms_median']:.1f}",
                f"{r['ratio']:.2f}x",
                f"{r['ratio_of_minimums']:.2f}x",
                "<= 1.3x",
                f"{r['deps_and_clients_ms_median']:.1f}",
                f"{r['ratio_to_deps_and_clients']:.2f}x",
                f"{r['hub_own_ms']:.1f}",
                f"{b['builders_ms']:.1f}",
                f"{b['first_party_bodies_ms']:.1f}",
            ]
        )
    packages = sorted({p for r in results for p in r["third_party_packages"] if not p.startswith("_")})
    slowest = [
        f"    {r['function']}: "
        + ", ".join(
            f"{name} {ms:.0f}"
            for name, ms in r["importtime_breakdown"]["slowest_first_party"]
            if name != r["handler_module"]
        )
        for r in results
    ]
    failures = sorted({name for r in results for name in r["baseline_import_failures"]})
    return "\n".join(
        [
            f"1. Cold import per function (fresh interpreter each, median of {repetitions}; figures, not asserts)",
            report.table(
                [
                    "function",
                    "handler ms",
                    "deps-only ms",
                    "ratio",
                    "(of minimums)",
                    "target",
                    "+ SDK clients ms",
                    "ratio to that",
                    "hub's own ms",
                    "builders ms*",
                    "hub modules ms*",
                ],
                rows,
                "lrrrrrrrrrr",
            ),
            "  deps-only = a fresh interpreter importing exactly the non-first-party modules (third-party and",
            "  stdlib, submodules included, in load order) that the handler import loaded; third-party packages",
            *report.wrap(f"among them: {', '.join(packages)}."),
            "  ratio = median handler / median deps-only; (of minimums) = fastest of each side, less sensitive",
            "  to other load on the machine. hub's own = the difference of the medians.",
            *report.wrap(
                "+ SDK clients = deps-only plus creating the boto3 clients the handler import creates (same services,"
                " same order): what any boto3 user pays for them, mostly"
                f" botocore parsing its endpoint data for the first client ({_clients(results)}). ratio to that ="
                " median handler / its median: the hub's own code and builders beyond the SDK."
            ),
            "  * from one extra `-X importtime` run: self time of the handler module body (module-scope builders:",
            "    boto3 clients/resources, settings model, router/worker/app) and of the hub's own modules",
            "    (pydantic model classes, etc.); importtime adds its own overhead.",
            "  slowest hub modules besides the handler module (self ms, importtime):",
            *slowest,
            f"  baseline modules that would not import by name (skipped): {', '.join(failures) or 'none'}",
        ]
    )
