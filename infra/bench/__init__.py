"""`make bench`: the hub's benchmark. Prints figures (never asserts) and writes .local/bench.json.

1. Cold import of each function's handler vs. importing only the modules it pulls in from elsewhere (1b: cold
   init of the built artifacts).
2. Router + Slack sender per-notification cost vs. a bare `requests.Session().post` loop.
3. AWS API calls per 50-recipient Slack event, cold container and warm container.
4. Provider HTTP calls per notification for one 1,000-recipient event on LINE (push/multicast) and
   KakaoTalk AlimTalk (SENS send), and on NAVER WORKS (bot messages and token exchanges; 200 recipients
   per event by default, two events), with each event's delivery outcomes.
5. Provider 429s with and without the shared rate limit, four Google Chat sender containers at once.
6. Fairness: company B's latency while company A's Slack answers 429 for a minute.
7. Per-notification cost of the hub vs Apprise vs a bare `requests` loop on Slack, Google Chat and LINE.
8. End-to-end throughput, latency and each function's peak memory for 100 events x 100 recipients over the five
   messengers, the router and senders each in a process of their own, at realistic provider latency, without
   and with the shared rate limit.
9. Sender wall time per notification for 1,000 recipients per channel at realistic provider latency: the
   concurrent sender vs the sequential one vs Apprise vs the provider-limit bound; hub CPU vs Apprise's; AWS
   requests, DynamoDB write units and the list-price AWS cost per notification (9b).

Parts 2-7 run without provider latency (they measure the hub's own machinery); `--latency` sets parts 8 and 9's.
`--quick` runs everything at small sizes.

Run with `python -m infra.bench` (PYTHONPATH=<checkout>:<checkout>/shared); see `run.py`.
"""
