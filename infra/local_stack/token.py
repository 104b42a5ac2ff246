"""`make token COMPANY=... USER=... ROLE=...`: a dev token the running local stack accepts."""

from __future__ import annotations

import argparse
import json

from infra.local_stack.identity import DevIssuer
from infra.local_stack.stack import STATE_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a WORKPLACE dev token for the local stack.")
    parser.add_argument("--company", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--role", choices=["admin", "member"], default="member")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    args = parser.parse_args()
    stack_file = STATE_DIR / "stack.json"
    if not stack_file.exists():
        raise SystemExit("start the local stack first (make run): .local/stack.json is missing")
    description = json.loads(stack_file.read_text())
    issuer = DevIssuer(STATE_DIR / "dev-signing-key.pem", description["issuer"], description["audience"])
    print(issuer.mint(args.company, args.user, args.role, ttl=args.ttl))


if __name__ == "__main__":
    main()
