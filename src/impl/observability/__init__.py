"""Telemetry: structured logs (`logs`), Prometheus metrics (`metrics`), OpenTelemetry traces
(`tracing`), and the middleware that feeds all three per request (`middleware`).

Nothing is imported here: with `PROMETHEUS_MULTIPROC_DIR` set, prometheus-client needs its
directory before `metrics` is imported (`multiprocess_dir` prepares it, importing nothing).
"""
