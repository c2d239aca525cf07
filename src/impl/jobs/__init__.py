"""Background jobs: one queue abstraction, run in process or on Redis Streams.

`core` defines jobs, the `JobQueue` protocol and how one delivery is executed (retries with
backoff, then a dead letter); `memory` and `streams` implement the protocol; `scheduler`
enqueues periodic jobs once per period; `runtime` wires them to the settings; `tasks` holds
the jobs the service runs.
"""
