"""`make bench`: the hub's benchmark. Prints figures (never asserts) and writes .local/bench.json.

1. Cold import of each function's handler vs. importing only the modules it pulls in from elsewhere.
2. Router + Slack sender per-notification cost vs. a bare `requests.Session().post` loop.
3. AWS API calls per 50-recipient Slack event, cold container and warm container.

Run with `python -m infra.bench` (PYTHONPATH=<checkout>:<checkout>/shared); see `run.py`.
"""
