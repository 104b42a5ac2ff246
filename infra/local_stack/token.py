"""`make token COMPANY=... USER_ID=... ROLE=...`: a dev token the running local stack accepts."""

from __future__ import annotations

import argparse
import json

from infra.local_stack.identity import DevIssuer
from infra.local_stack.stack import SIGNING_KEY_FILE, STATE_DIR


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a WORKPLACE dev token for the local stack.")
    parser.add_argument("--company", required=True)
    parser.add_argument("--user", required=True, help="the WORKPLACE user ID (the token's sub)")
    parser.add_argument("--role", choices=["admin", "member"], default="member")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    args = parser.parse_args(argv)
    # An empty user makes a token no route accepts: say so instead of printing it.
    if not args.user.strip():
        parser.error("the user is empty: make token USER_ID=someone@acme.example (COMPANY=acme ROLE=member)")
    if not args.company.strip():
        parser.error("the company is empty: make token COMPANY=acme USER_ID=...")
    stack_file = STATE_DIR / "stack.json"
    if not stack_file.exists():
        raise SystemExit("start the local stack first (make run): .local/stack.json is missing")
    description = json.loads(stack_file.read_text())
    issuer = DevIssuer(STATE_DIR / SIGNING_KEY_FILE, description["issuer"], description["audience"])
    print(issuer.mint(args.company, args.user, args.role, ttl=args.ttl))


if __name__ == "__main__":
    main()
