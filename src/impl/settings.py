"""Runtime configuration, read from the environment once by the application and passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets: long enough to pass validation, refused outside development.
_DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production-0000"  # noqa: S105
_DEV_CURSOR_SECRET = "dev-only-cursor-secret-do-not-use-in-production-00"  # noqa: S105

_MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected secret must not end up in a start-up traceback or a log.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///var/storefront.db"
    redis_url: str | None = None
    jwt_secret: SecretStr = SecretStr(_DEV_JWT_SECRET)
    jwt_issuer: str = "storefront"
    jwt_audience: str = "storefront-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    cursor_secret: SecretStr = SecretStr(_DEV_CURSOR_SECRET)
    db_pool_size: int = 10
    # gc.freeze() once the app has started (impl.kit.heap): full collections skip the heap
    # built at start-up. Tests that build an app per test turn it off (a collection each).
    freeze_heap: bool = True
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    # Telemetry (impl.observability). LOG_FORMAT unset: json unless stdout is a terminal.
    log_format: Literal["json", "console"] | None = None
    prometheus_multiproc_dir: str | None = None  # prometheus-client's own variable
    otel_exporter_otlp_endpoint: str | None = None  # unset: no tracing, nothing imported
    otel_service_name: str = "storefront"
    environment: str = "development"
    # Background jobs (impl.jobs) and the housekeeping they run.
    idempotency_key_retention_hours: int = Field(default=24, ge=1)
    housekeeping_interval_minutes: int = Field(default=15, ge=0)  # 0: never scheduled
    housekeeping_batch_size: int = Field(default=1000, ge=1)
    job_max_attempts: int = Field(default=5, ge=1)
    job_retry_delay_seconds: float = Field(default=2.0, gt=0)
    job_claim_idle_seconds: float = Field(default=300.0, gt=0)
    jobs_redis_prefix: str = Field(default="storefront:jobs", min_length=1)

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

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_is_unset(cls, value: object) -> object:
        # `REDIS_URL=` in a shell or compose file means "no Redis", not an invalid URL.
        return None if value == "" else value

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name, dev in (
                ("jwt_secret", _DEV_JWT_SECRET),
                ("cursor_secret", _DEV_CURSOR_SECRET),
            ):
                if getattr(self, name).get_secret_value() == dev:
                    raise ValueError(f"{name.upper()} must be set in production")
        return self


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
