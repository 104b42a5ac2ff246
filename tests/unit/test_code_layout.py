"""The code layout holds: imports run down the layers, no import cycle, small modules, described packages.

The layer rule (README, "How it works"): a module of `shared/workplace_hub/` imports only from its own
package, from a package of a lower layer, or from another package of its own layer while that layer is a
shared one (the root modules, storage and queues, providers). Vendor packages never import each other,
nor do the settings packages, nor the use cases: what two of them share goes down a layer. Lazy imports
(inside a function, or under TYPE_CHECKING) count: they are dependencies too. Read with `ast`, no import.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "shared" / "workplace_hub"
MAX_LINES = 400

# Lowest first. A package (or root module) may import from its own layer only where SHARED_LAYERS says so.
LAYERS: list[frozenset[str]] = [
    frozenset({"absence_times", "catalog", "clock", "config", "crypto", "email_address", "errors", "events",
               "http", "jobs", "observability", "workplace_jwt"}),  # root modules: what everything shares
    frozenset({"storage", "queues"}),  # DynamoDB repositories, SQS job queues
    frozenset({"providers"}),  # one interface per kind of provider
    frozenset({"naver_works", "google", "line", "slack", "kakao"}),  # one package per vendor
    frozenset({"integration_settings", "credentials"}),  # what companies and employees configured and granted
    frozenset({"routing", "delivery", "calendars", "linking"}),  # use cases
    frozenset({"api", "console"}),  # the settings and linking HTTP API; serving the web console's files
    frozenset({"wiring"}),  # the composition root
]  # fmt: skip
SHARED_LAYERS = 3  # layers 0-2 may import across their own packages; from vendors up, never

# Issue 13: known exceptions, each being fixed on another branch. Remove an entry when its fix lands (the
# test fails while a listed exception no longer occurs, so the list only shrinks).
PENDING_IMPORTS: set[tuple[str, str]] = set()
PENDING_SIZES: set[str] = set()


def layer_of(top: str) -> int:
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{top} is in no layer: add it to LAYERS (and to README's layout table)")


@dataclass(frozen=True)
class Import:
    source: str  # path under shared/workplace_hub, e.g. "delivery/worker.py"
    target: str  # the dotted module imported, e.g. "workplace_hub.routing.plan"
    line: int


def product_modules() -> list[Path]:
    return sorted(HUB.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(HUB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path) for path in product_modules()}


def imports_of(path: Path) -> Iterator[Import]:
    """Every `workplace_hub` module `path` imports, wherever the import statement is."""
    source = path.relative_to(HUB).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("workplace_hub."):
                    yield Import(source, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "workplace_hub" and not node.module.startswith("workplace_hub."):
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield Import(source, submodule if submodule in MODULES else node.module, node.lineno)


def top_of(source: str) -> str:
    """The package (or root module) a file belongs to: "delivery/worker.py" → "delivery"."""
    first = source.split("/")[0]
    return first.removesuffix(".py")


def crosses_layers(found: Import) -> bool:
    mine, theirs = top_of(found.source), found.target.split(".")[1]
    if mine == theirs or mine == "__init__":
        return False
    my_layer, their_layer = layer_of(mine), layer_of(theirs)
    return their_layer > my_layer or (their_layer == my_layer and my_layer >= SHARED_LAYERS)


def all_imports() -> list[Import]:
    return [found for path in product_modules() for found in imports_of(path)]


def test_every_package_and_root_module_has_a_layer() -> None:
    for path in product_modules():
        top = top_of(path.relative_to(HUB).as_posix())
        if top != "__init__":
            layer_of(top)


def test_imports_run_down_the_layers() -> None:
    wrong = {(found.source, found.target) for found in all_imports() if crosses_layers(found)}
    assert sorted(wrong - PENDING_IMPORTS) == [], "imports up or across the layers (see LAYERS)"
    assert sorted(PENDING_IMPORTS - wrong) == [], "fixed: remove these from PENDING_IMPORTS"


def test_the_layer_check_catches_an_import_up_or_across() -> None:
    assert crosses_layers(Import("storage/links.py", "workplace_hub.api.errors", 1))
    assert crosses_layers(Import("google/oauth.py", "workplace_hub.naver_works.auth", 1))
    assert crosses_layers(Import("calendars/sync.py", "workplace_hub.linking.state", 1))
    assert not crosses_layers(Import("storage/links.py", "workplace_hub.queues", 1))
    assert not crosses_layers(Import("api/links.py", "workplace_hub.integration_settings.fields", 1))


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in sorted(edges.get(node, ())):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for path in product_modules():
        name = module_name(path)
        edges[name] = {found.target for found in imports_of(path) if found.target != name}
    assert find_cycles(edges) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c"]]


def test_no_product_module_is_over_400_lines() -> None:
    paths = [*product_modules(), *sorted((ROOT / "functions").rglob("*.py"))]
    sizes = {path.relative_to(HUB if HUB in path.parents else ROOT).as_posix(): path for path in paths}
    over = {name for name, path in sizes.items() if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES}
    assert sorted(over - PENDING_SIZES) == [], f"over {MAX_LINES} lines: split them"
    assert sorted(PENDING_SIZES - over) == [], "fixed: remove these from PENDING_SIZES"


def one_sentence(text: str) -> bool:
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z`\"(])", " ".join(text.split()))
    return len(sentences) == 1 and sentences[0].endswith(".")


def test_every_package_says_in_one_sentence_what_lives_there() -> None:
    for init in sorted(HUB.rglob("__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and one_sentence(docstring), f"{init.relative_to(ROOT)}: a one-sentence docstring"


def test_the_sentence_check() -> None:
    assert one_sentence("Slack: the chat.postMessage sender (API 2.0 and 1.0).")
    assert not one_sentence("Slack. The sender.")
    assert not one_sentence("Slack: the sender")


# `monkeypatch.setattr(worker, "_lease_seconds", 1)`, `patch.object(x, "_y")`, `setattr("a.b._c", ...)`:
# a test that needs a private attribute changed should get a constructor argument or a fake instead.
PATCHING_CALLS = {"setattr", "delattr", "object", "patch"}


def private_patches(path: Path, root: Path = ROOT) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if called not in PATCHING_CALLS:
            continue
        for argument in node.args[:2]:
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                name = argument.value.rsplit(".", 1)[-1]
                if name.startswith("_") and not name.startswith("__"):
                    yield f"{path.relative_to(root)}:{node.lineno} patches {argument.value}"


def test_no_test_patches_a_private_attribute() -> None:
    found = [finding for path in sorted((ROOT / "tests").rglob("*.py")) for finding in private_patches(path)]
    assert found == []


def test_the_private_patch_check(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        'monkeypatch.setattr(worker, "_lease_seconds", 1)\n'
        'monkeypatch.setattr("workplace_hub.delivery.worker._CACHE", {})\n'
        'patch.object(Worker, "_claims")\n'
        'monkeypatch.setattr(worker, "lease_seconds", 1)\n'
        'monkeypatch.setattr(worker, "__call__", 1)\n'
    )
    assert len(list(private_patches(tmp_path / "test_x.py", tmp_path))) == 3
