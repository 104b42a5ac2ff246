"""Finds time, date and random values computed when a module is imported (or pytest collects it).

Such a value is as old as the collection when the test runs: a token's `exp` made at collection had aged
past a fake's limit by the time a loaded machine reached the test. What runs at import: module and class
bodies, decorators (`@pytest.mark.parametrize(...)`, `@pytest.fixture(params=...)`) and default argument
values. A lambda or a function body runs later, so calls inside them are fine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Calls whose answer depends on the clock or on chance (full dotted names, after resolving imports).
CLOCK_CALLS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "uuid.uuid1",
        "uuid.uuid4",
        "os.urandom",
    }
)
# These read the clock only without their time argument (which they take after this many others).
CLOCK_WITHOUT_TIME_ARGUMENT = {"time.localtime": 0, "time.gmtime": 0, "time.strftime": 1, "time.ctime": 0}
# Every function of these modules draws a random value (random.Random(seed) is the one exception).
RANDOM_MODULES = ("random", "secrets")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    call: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}() computed at import/collection time"


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name → dotted name, from the module's imports (`import datetime as dt`, `from time import time`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]  # `import os.path` binds `os`
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, names: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    return ".".join([names[node.id], *reversed(parts)])


def _is_clock_call(call: ast.Call, names: dict[str, str]) -> str | None:
    dotted = _dotted(call.func, names)
    if dotted is None:
        return None
    if dotted in CLOCK_CALLS:
        return dotted
    if dotted in CLOCK_WITHOUT_TIME_ARGUMENT:
        return dotted if len(call.args) <= CLOCK_WITHOUT_TIME_ARGUMENT[dotted] and not call.keywords else None
    module, _, function = dotted.rpartition(".")
    if module in RANDOM_MODULES and not (function == "Random" and call.args):
        return dotted
    return None


class _ImportTimeCalls(ast.NodeVisitor):
    """Visits only what Python evaluates at import: skips function bodies and lambdas."""

    def __init__(self, path: str, names: dict[str, str]) -> None:
        self.path, self.names = path, names
        self.findings: list[Finding] = []

    def visit_Call(self, node: ast.Call) -> None:
        call = _is_clock_call(node, self.names)
        if call:
            self.findings.append(Finding(self.path, node.lineno, call))
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)  # a lambda's defaults are evaluated when it is made; its body later

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)  # default values

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function


def import_time_calls(source: str, path: str = "<source>") -> list[Finding]:
    """Every clock or random call `source` makes when it is imported."""
    tree = ast.parse(source, filename=path)
    visitor = _ImportTimeCalls(path, _imported_names(tree))
    visitor.visit(tree)
    return visitor.findings


def scan(*roots: Path) -> list[Finding]:
    findings: list[Finding] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            findings.extend(import_time_calls(path.read_text(encoding="utf-8"), str(path)))
    return findings
