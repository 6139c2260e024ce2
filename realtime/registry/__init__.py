"""Who is connected where: live connections, serving processes and their leases.

Owns: the Connection, ServerProcess and Outbox tables (app label `ws`), their services
(open, close, sweep of dead processes), the `connections_closed` signal apps listen to,
the lease loop, and the prepared SQL of the per-socket queries (`sql`).
Imports: nothing else of the plumbing.
"""
