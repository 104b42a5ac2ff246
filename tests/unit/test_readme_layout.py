"""README's code paths exist, and its code-layout table names every module of every package (and no other)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "shared" / "workplace_hub"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLACEHOLDER = re.compile(r"[<>{}…*]")


def readme_paths() -> set[str]:
    """`shared/workplace_hub/...` and `functions/...` paths anywhere, and backticked `package/module.py` ones."""
    full = re.findall(r"(?<![\w/])((?:shared/workplace_hub|functions)/[\w./<>{}-]*)", README)
    relative = re.findall(r"`([\w./<>-]+/[\w.<>-]+\.py)`", README)
    return {path.rstrip(".") for path in [*full, *relative] if not PLACEHOLDER.search(path)}


def test_every_code_path_readme_names_exists() -> None:
    missing = [path for path in sorted(readme_paths()) if not ((ROOT / path).exists() or (HUB / path).exists())]
    assert missing == []


def layout_rows() -> dict[Path, set[str]]:
    """Package directory → the module file names its row of the code-layout table names."""
    table = README[README.index("Code layout (") :].split("\n\n", 2)[1]
    rows: dict[Path, set[str]] = {}
    for line in table.splitlines():
        cells = line.split(" | ")
        found = re.fullmatch(r"\| `shared/workplace_hub/([\w/]*)`(?: \(root\))?", cells[0])
        if found:
            rows[HUB / found.group(1)] = set(re.findall(r"`([\w]+\.py)`", cells[1]))
    return rows


def test_the_layout_table_names_every_module_and_no_other() -> None:
    rows = layout_rows()
    packages = {HUB, *(init.parent for init in HUB.rglob("__init__.py"))}
    assert sorted(map(str, packages - rows.keys())) == [], "packages without a row in README's code-layout table"
    for package, named in rows.items():
        modules = {path.name for path in package.glob("*.py")} - {"__init__.py"}
        assert sorted(named - modules) == [], f"{package.relative_to(ROOT)}: README names modules that are not there"
        assert sorted(modules - named) == [], f"{package.relative_to(ROOT)}: modules README's table does not name"


def test_the_table_reader_reads_the_rows() -> None:
    rows = layout_rows()
    assert "worker.py" in rows[HUB / "delivery"]
    assert "events.py" in rows[HUB]
