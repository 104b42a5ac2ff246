"""The lock, and the artifacts `make build` leaves in .aws-sam/build: what ships is what is locked, for arm64,
with bytecode Lambda's python3.11 uses as it is.

The lock tests read files only. The artifact tests need a build: `make test` runs `make build` first; run alone,
they are skipped when .aws-sam/build is missing (and fail instead under CI, where it must be there).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "layers" / "deps" / "requirements.lock"
BUILD = ROOT / ".aws-sam" / "build"
LAYERS = ("DepsLayer", "SharedLayer")
CACHE_TAG = "cpython-311"
# What pip evaluates the dependencies' markers against when it installs the layer for Lambda.
LAMBDA_MARKERS = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "aarch64",
}


def lock_pins(text: str | None = None) -> dict[str, str]:
    """{canonical name: version} of a requirements file in the lock's format (name==version \\ --hash=...)."""
    text = LOCK.read_text() if text is None else text
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", text, re.MULTILINE):
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def requirement_pins(path: Path) -> dict[str, str]:
    """{name: version} of every `name==version` (extras dropped) in a requirements file and the files it -r's."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(requirement_pins(path.parent / line.removeprefix("-r ").strip()))
        elif line and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            if exact:
                pins[canonicalize_name(requirement.name)] = exact[0]
    return pins


def built() -> Path:
    if not (BUILD / "DepsLayer" / "python").is_dir():
        if os.environ.get("CI"):
            pytest.fail(".aws-sam/build is missing: `make test` builds before it tests")
        pytest.skip(".aws-sam/build is missing: run `make build` first")
    return BUILD


# ---------------------------------------------------------------- the lock


def test_every_pin_of_the_lock_is_exact_and_hashed() -> None:
    blocks = [block for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()) if not block.startswith("#")]
    assert blocks
    for block in blocks:
        assert re.match(r"^[a-z0-9-]+==\S+ \\\n", block), block
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block


def test_the_lock_pins_the_top_level_requirements_at_their_versions() -> None:
    top_level = requirement_pins(ROOT / "layers" / "deps" / "requirements.txt")
    pins = lock_pins()
    assert {name: pins.get(name) for name in top_level} == top_level
    # boto3 and botocore ship in the layer rather than coming from the runtime.
    assert {"boto3", "botocore", "s3transfer", "jmespath"} <= set(pins)


def test_the_lock_holds_every_transitive_dependency() -> None:
    """Closed under Requires-Dist (as installed here, where the lock is installed: see the next test)."""
    pins = lock_pins()
    missing = {}
    for name in pins:
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": ""}):
                continue
            if canonicalize_name(requirement.name) not in pins:
                missing[str(requirement)] = name
    assert missing == {}


def test_the_tests_run_the_versions_the_layer_ships() -> None:
    """The dev requirements and the lock agree, and this environment has the lock's versions installed."""
    pins = lock_pins()
    dev = requirement_pins(ROOT / "requirements-dev.txt")
    assert {name: version for name, version in dev.items() if name in pins and pins[name] != version} == {}
    installed = {name: importlib.metadata.version(name) for name in pins}
    assert {name: (installed[name], pins[name]) for name in pins if installed[name] != pins[name]} == {}


def test_the_agreement_check_catches_a_dev_pin_that_differs() -> None:
    lock = "boto3==1.44.5 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    assert lock_pins(lock) == {"boto3": "1.44.5"}
    dev = {"boto3": "1.44.0"}
    assert {n: v for n, v in dev.items() if n in lock_pins(lock) and lock_pins(lock)[n] != v} == {"boto3": "1.44.0"}


# ---------------------------------------------------------------- the built artifacts


def installed_distributions(site: Path) -> dict[str, str]:
    found = {}
    for dist_info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((dist_info / "METADATA").read_text())
        found[canonicalize_name(metadata["Name"])] = metadata["Version"]
    return found


def test_the_deps_layer_installs_exactly_the_lock() -> None:
    site = built() / "DepsLayer" / "python"
    assert installed_distributions(site) == lock_pins()


def test_the_deps_layer_holds_aarch64_wheels_only() -> None:
    site = built() / "DepsLayer" / "python"
    tags = {}
    for dist_info in site.glob("*.dist-info"):
        wheel = Parser().parsestr((dist_info / "WHEEL").read_text())
        tags[dist_info.name] = wheel.get_all("Tag")
    native = {name: tag for name, tag in tags.items() if not all(t.endswith("-any") for t in tag)}
    assert native, "cryptography, pydantic-core and cffi ship native code"
    assert {name: tag for name, tag in native.items() if not all("aarch64" in t for t in tag)} == {}
    libraries = list(site.rglob("*.so"))
    assert libraries
    assert [lib.name for lib in libraries if "x86_64" in lib.name] == []
    for library in libraries:
        assert library.read_bytes()[18:20] == (183).to_bytes(2, "little"), f"{library} is not an aarch64 ELF"


def shipped_sources() -> list[tuple[Path, Path]]:
    """(artifact root, .py file) of every Python source shipped: both layers' python/, every function."""
    build = built()
    roots = [build / layer / "python" for layer in LAYERS]
    roots += [path for path in build.iterdir() if path.is_dir() and path.name not in LAYERS]
    return [(root, source) for root in roots for source in sorted(root.rglob("*.py"))]


def test_every_shipped_module_has_its_bytecode_for_python311_unchecked() -> None:
    sources = shipped_sources()
    assert len(sources) > 1000
    problems = []
    for _, source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert CACHE_TAG in cached.name
        if not cached.exists():
            problems.append(f"{source}: no {cached.name}")
            continue
        data = cached.read_bytes()
        flags = int.from_bytes(data[4:8], "little")
        if data[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(f"{cached}: not Python 3.11 bytecode")
        elif flags != 0b01:  # hash-based, source not checked: zipping loses the timestamps
            problems.append(f"{cached}: flags {flags:#b}, not unchecked-hash")
        elif data[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{cached}: compiled from another source")
    assert problems == []


def test_the_shipped_package_imports_from_its_bytecode() -> None:
    """Python itself loads every workplace_hub module from __pycache__ (python -v says where each came from)."""
    site = built() / "SharedLayer" / "python"
    modules = sorted(
        ".".join(path.relative_to(site).with_suffix("").parts).removesuffix(".__init__")
        for path in (site / "workplace_hub").rglob("*.py")
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(site))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-v", "-c", code, *modules], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = re.findall(r"^# code object from '?(\S+?)'?$", done.stderr, re.MULTILINE)
    ours = [path for path in loaded if path.startswith(str(site))]
    assert len(ours) == len(modules)
    assert [path for path in ours if "/__pycache__/" not in path or not path.endswith(f".{CACHE_TAG}.pyc")] == []


def test_the_template_builds_for_arm64() -> None:
    from infra.template import load_template

    template = load_template()
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    for layer in LAYERS:
        assert template["Resources"][layer]["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
