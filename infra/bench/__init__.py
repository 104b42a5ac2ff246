"""`make bench`: the hub's benchmark. Prints figures (never asserts) and writes .local/bench.json.

1. Cold import of each function's handler vs. importing only the modules it pulls in from elsewhere.
2. Router + Slack sender per-notification cost vs. a bare `requests.Session().post` loop.
3. AWS API calls per 50-recipient Slack event, cold container and warm container.
4. Provider HTTP calls per notification for one 1,000-recipient event on LINE (push/multicast) and
   KakaoTalk AlimTalk (SENS send), and on NAVER WORKS (bot messages and token exchanges; 200 recipients
   per event by default, two events), with each event's delivery outcomes.

Run with `python -m infra.bench` (PYTHONPATH=<checkout>:<checkout>/shared); see `run.py`.
"""
