"""Events from a service to every socket they concern, on every process.

Owns: publish after commit (broadcast), the per-process hub (topics, local delivery),
the relay over the channel layer, degraded mode and its recovery, the outbox a
command's events take in embedded mode, and the plumbing's own topics.
Imports: realtime.registry (process identity, the outbox rows), realtime.web (metrics).
"""
