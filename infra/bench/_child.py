"""One cold-import measurement in a fresh interpreter; run as a script by cold_import.py, never imported.

argv[1] is JSON: {"mode": "handler" | "deps" | "deps_clients", "path": [...], "module": "app", "modules": [...],
"clients": [...], "record_clients": bool}. "deps_clients" imports the modules, then creates the boto3 clients
named in "clients" (what the handler's builders create). Prints one JSON line: elapsed seconds, the modules the
measured imports loaded, in load order, and (with "record_clients") the services of the clients created.
"""

import json
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    sys.path[:0] = spec["path"]
    created: list[str] = []
    if spec.get("record_clients"):
        from botocore.session import Session

        create_client = Session.create_client

        def recording(self, service_name, *args, **kwargs):  # type: ignore[no-untyped-def]
            created.append(service_name)
            return create_client(self, service_name, *args, **kwargs)

        Session.create_client = recording  # type: ignore[method-assign]
    before = set(sys.modules)
    failed = []
    started = time.perf_counter()
    # __import__ (the import statement's path), not importlib.import_module: only the former is
    # reported by -X importtime.
    if spec["mode"] == "handler":
        __import__(spec["module"])
        getattr(sys.modules[spec["module"]], spec["attribute"])
    else:
        for name in spec["modules"]:
            try:
                __import__(name)
            except Exception:
                failed.append(name)
        if spec["mode"] == "deps_clients":
            import boto3

            for service in spec["clients"]:
                boto3.client(service)
    elapsed = time.perf_counter() - started
    loaded = []
    for name, module in list(sys.modules.items()):
        module_spec = getattr(module, "__spec__", None)
        # Skip aliases (e.g. __mp_main__) and synthetic modules (cython_runtime): not importable by name.
        if name not in before and module_spec is not None and module_spec.name == name:
            loaded.append(name)
    print("BENCH-CHILD " + json.dumps({"seconds": elapsed, "loaded": loaded, "failed": failed, "clients": created}))


main()
