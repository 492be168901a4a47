"""The learning loop: reviewed answers → training data → retrain → deploy if better; A/B
tests, shadow mode, monitoring, drift and alerts.

Modules (import them directly; this package re-exports nothing so that importing one part
does not load the others):

- ``feedback``: reviewed interactions as training examples, merged with the project's by trust
- ``retrain``: ``retrain_task`` — the one path of ``intently retrain``, the service's schedule
  and the benchmarks
- ``scheduler``: the service's background check (retrain, snapshots)
- ``ab`` / ``ab_stats``: A/B tests and shadow mode; Wilson intervals and significance tests
- ``monitor`` / ``drift`` / ``alerts``: live metrics, snapshots, PSI drift, alert rules
"""
