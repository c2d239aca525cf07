"""Runtime configuration, read from the environment once by the application and passed down."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_MIN_SECRET_BYTES = 32
# The keys a deployment must bring; outside production they are made at first start.
_KEYS = ("jwt_secret", "cursor_secret")


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected secret must not end up in a start-up traceback or a log.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    # `serve-prod`: uvicorn worker processes (unset: one per CPU core), and how long SIGTERM
    # waits for requests in flight before closing their connections.
    workers: int | None = Field(default=None, ge=1)
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)
    database_url: str = "sqlite+aiosqlite:///var/storefront.db"
    redis_url: str | None = None
    # Unset outside production: generated once and kept in KEYS_DIR (see `_keys`).
    jwt_secret: SecretStr
    jwt_issuer: str = "storefront"
    jwt_audience: str = "storefront-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    cursor_secret: SecretStr
    keys_dir: Path = Path("var/keys")
    db_pool_size: int = 10
    # Rate limits come from the contract (`impl.ratelimits`); the scale multiplies them all.
    rate_limits_enabled: bool = True
    rate_limit_scale: float = Field(default=1.0, gt=0)
    rate_limit_redis_prefix: str = Field(default="storefront:ratelimit", min_length=1)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # gc.freeze() once the app has started (impl.kit.heap): full collections skip the heap
    # built at start-up. Tests that build an app per test turn it off (a collection each).
    freeze_heap: bool = True
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    # Telemetry (impl.observability). LOG_FORMAT unset: json unless stdout is a terminal.
    log_format: Literal["json", "console"] | None = None
    prometheus_multiproc_dir: str | None = None  # prometheus-client's own variable
    otel_exporter_otlp_endpoint: str | None = None  # unset: no tracing, nothing imported
    otel_service_name: str = "storefront"
    environment: Literal["development", "production"] = "development"
    # Background jobs (impl.jobs) and the housekeeping they run.
    idempotency_key_retention_hours: int = Field(default=24, ge=1)
    housekeeping_interval_minutes: int = Field(default=15, ge=0)  # 0: never scheduled
    housekeeping_batch_size: int = Field(default=1000, ge=1)
    job_max_attempts: int = Field(default=5, ge=1)
    job_retry_delay_seconds: float = Field(default=2.0, gt=0)
    job_retry_max_delay_seconds: float = Field(default=300.0, gt=0)
    job_concurrency: int = Field(default=10, ge=1)  # jobs one process runs at once
    # How often schedulers re-read their schedules (the retries waiting for their backoff).
    job_schedule_refresh_seconds: float = Field(default=2.0, ge=1)
    job_claim_idle_seconds: float = Field(default=300.0, gt=0)
    jobs_redis_prefix: str = Field(default="storefront:jobs", min_length=1)
    # The event log's relay (impl.events.relay): in-process, or to NATS JetStream.
    nats_url: str | None = None
    nats_stream: str = Field(default="STOREFRONT_EVENTS", pattern=r"^[A-Za-z0-9_-]+$")
    nats_subject_prefix: str = Field(
        default="storefront.events", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    )
    outbox_relay_enabled: bool = True  # false: a change-data-capture connector publishes it
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_relay_lease_seconds: float = Field(default=15.0, gt=0)
    jobs_stream_maxlen: int = Field(default=100_000, ge=1000)
    # Request limits and HTTP headers (impl.http_hygiene; README "Limits and HTTP headers").
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tls_terminated: bool = False

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # CORS_ALLOWED_ORIGINS=https://a.example,https://b.example (or `*`); empty: none.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    # An external OpenID Connect provider (impl.auth.external); unset issuer: off.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_authorized_parties: Annotated[tuple[str, ...], NoDecode] = ()
    oidc_jwks_url: str | None = None  # default: the discovery document's jwks_uri
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    oidc_jwks_ttl_seconds: float = Field(default=600.0, gt=0)
    oidc_fetch_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # The LLM client (impl.insights.llm; docs/insights.md). `local`: no network, a summary
    # written from the numbers; `openai`: any OpenAI-compatible Chat Completions endpoint.
    llm_provider: Literal["local", "openai"] = "local"
    llm_base_url: str = "https://api.openai.com/v1"
    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_api_key: SecretStr | None = None  # required with LLM_PROVIDER=openai; never logged
    llm_timeout_seconds: float = Field(default=15.0, gt=0, le=300)  # all attempts, all waits
    llm_attempt_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    llm_max_attempts: int = Field(default=4, ge=1, le=10)
    llm_max_tokens: int = Field(default=400, ge=16, le=8192)
    llm_breaker_threshold: int = Field(default=5, ge=1)  # consecutive failed attempts
    llm_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    llm_redis_prefix: str = Field(default="storefront:llm", min_length=1)

    # Outbound requests to URLs users give (impl.kit.egress; docs/feeds.md, "The egress guard"):
    # hosts allowed to resolve to any address, loopback and private ones included (comma list
    # of names or IPs; the tests allow their fake servers' 127.0.0.1), how long resolving a
    # host may take, and how many redirects a request may follow (each hop checked again).
    egress_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    egress_dns_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    egress_max_redirects: int = Field(default=5, ge=0, le=20)
    # Feed fetching (impl.feeds; docs/feeds.md): one fetch's whole time and size (past either it
    # is abandoned), items kept from one fetch, how soon a fetched feed is due again, and the
    # backoff after failures (base, doubled per failure in a row, capped).
    feed_fetch_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    feed_max_bytes: int = Field(default=5 << 20, ge=1024)
    feed_max_items: int = Field(default=200, ge=1)
    feed_refresh_minutes: int = Field(default=30, ge=1)
    feed_backoff_base_seconds: float = Field(default=60.0, gt=0)
    feed_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("jwt_secret", "cursor_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        # HS256 and HMAC-SHA256 keys shorter than the hash output weaken them (RFC 7518 §3.2).
        if len(value.get_secret_value().encode()) < _MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_SECRET_BYTES} bytes")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "log_format", "prometheus_multiproc_dir", "otel_exporter_otlp_endpoint", mode="before"
    )
    @classmethod
    def _telemetry_unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("redis_url", "nats_url", mode="before")
    @classmethod
    def _empty_redis_is_unset(cls, value: object) -> object:
        # `REDIS_URL=` in a shell or compose file means "no Redis", not an invalid URL.
        return None if value == "" else value

    @field_validator("oidc_issuer", "oidc_audience", "oidc_jwks_url", mode="before")
    @classmethod
    def _empty_oidc_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("llm_api_key", mode="before")
    @classmethod
    def _empty_llm_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("llm_base_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("oidc_authorized_parties", "egress_allow_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _oidc_bounded(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        # Without either, any token the provider signs for any of its applications would do.
        if self.oidc_audience is None and not self.oidc_authorized_parties:
            raise ValueError("OIDC_ISSUER needs OIDC_AUDIENCE or OIDC_AUTHORIZED_PARTIES")
        # Tokens are told apart by their issuer (impl.auth.authenticator).
        if self.oidc_issuer == self.jwt_issuer:
            raise ValueError("OIDC_ISSUER must differ from JWT_ISSUER")
        return self

    @model_validator(mode="after")
    def _llm_key_when_needed(self) -> Settings:
        if self.llm_provider == "openai" and self.llm_api_key is None:
            raise ValueError("LLM_API_KEY must be set when LLM_PROVIDER=openai")
        return self

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        """Fill unset keys from KEYS_DIR, making them there on first use; never in production."""
        if not isinstance(data, dict):
            return data
        missing = [name for name in _KEYS if not data.get(name)]
        if not missing:
            return data
        if data.get("environment", "development") == "production":
            names = " and ".join(name.upper() for name in missing)
            raise ValueError(f"{names} must be set when ENVIRONMENT=production")
        keys_dir = Path(data.get("keys_dir") or cls.model_fields["keys_dir"].default)
        return {**data, **{name: local_key(keys_dir / name) for name in missing}}


def local_key(path: Path) -> str:
    """The key kept in `path`, made (random, owner-only) if there is none yet.

    Several processes may start at once: a new key is written to a file of its own and
    linked into place, so every process reads the one key that won.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Rewrite driver-less URLs (as PaaS providers hand them out) to the async drivers we ship."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    match scheme:
        case "postgres" | "postgresql":
            return f"postgresql+asyncpg://{rest}"
        case "sqlite":
            return f"sqlite+aiosqlite://{rest}"
        case _:
            return url
