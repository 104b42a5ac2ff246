"""Run the provider sandbox in the foreground: `python -m infra.sandbox [--port N]`."""

from __future__ import annotations

import argparse
import signal
import threading

from infra.sandbox import latency
from infra.sandbox.server import SANDBOX_PATHS, Sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument(
        "--latency",
        type=latency.argument,
        default={},
        help="answer after a delay: realistic, or e.g. slack=250,google_chat=150+30 (ms; see infra/sandbox/latency.py)",
    )
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    sandbox = Sandbox(port=args.port, latency=args.latency).start()
    print(sandbox.url, flush=True)
    for variable, path in SANDBOX_PATHS.items():
        print(f"  {variable}={sandbox.url}{path}", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
