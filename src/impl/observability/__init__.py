"""Telemetry: structured logs (`logs`), Prometheus metrics (`metrics`), OpenTelemetry traces
(`tracing`), and the middleware that feeds all three per request (`middleware`)."""

from impl.observability.logs import bind_request, configure_logging
from impl.observability.metrics import Metrics
from impl.observability.middleware import ObservabilityMiddleware

__all__ = ["Metrics", "ObservabilityMiddleware", "bind_request", "configure_logging"]
