"""HTTP around the sockets: health, readiness, metrics, middleware, API errors, logs.

Owns: /healthz, /readyz, /metrics, the request context and access log, the
Content-Security-Policy, JSON errors under /api/, the strict REST serializer and the
error declarations of the schema, structured and redacted logs, and every Prometheus
metric. `metrics` and `logs` are leaves: every package may import them.
"""
