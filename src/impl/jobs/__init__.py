"""Background jobs on taskiq: an in-process broker by default, Redis Streams with REDIS_URL.

`broker` builds the broker the settings call for; `middleware` adds what every run goes
through (retries with backoff, dead letters, metrics and log context); `schedule` runs
taskiq's scheduler so that each tick is enqueued by one process only; `dead_letters` and
`repository` keep the jobs that failed every attempt; `runtime` wires them together for one
process (and is where code enqueues jobs); `worker` runs worker processes (`just worker`);
`tasks` holds the jobs the service runs.
"""
