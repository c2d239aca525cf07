from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from impl.settings import Settings, local_key


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "HOST", "PORT", "REDIS_URL", "JWT_SECRET", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database_url == "sqlite+aiosqlite:///var/storefront.db"
    assert settings.redis_url is None
    assert settings.refresh_token_ttl_seconds == 30 * 24 * 3600
    assert len(settings.jwt_secret.get_secret_value()) >= 32


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.port == 9000
    assert settings.redis_url is None
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?sslmode=require"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_normalised(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert Settings().database_url == expected


def test_short_secret_rejected_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(jwt_secret="too-short-secret")
    assert "too-short-secret" not in str(caught.value)


def test_production_refuses_to_start_without_its_own_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET and CURSOR_SECRET must be set"):
        Settings(environment="production", keys_dir=tmp_path)
    with pytest.raises(ValidationError, match="CURSOR_SECRET must be set"):
        Settings(environment="production", jwt_secret="j" * 32, keys_dir=tmp_path)
    settings = Settings(environment="production", jwt_secret="j" * 32, cursor_secret="c" * 32)
    assert settings.environment == "production"
    # Nothing was generated for it to fall back on.
    assert list(tmp_path.iterdir()) == []


def test_keys_are_made_at_first_start_and_kept(tmp_path: Path) -> None:
    first = Settings(keys_dir=tmp_path / "keys")
    again = Settings(keys_dir=tmp_path / "keys")
    elsewhere = Settings(keys_dir=tmp_path / "other")
    jwt, cursor = first.jwt_secret.get_secret_value(), first.cursor_secret.get_secret_value()
    assert len(jwt.encode()) >= 32
    assert jwt != cursor
    assert again.jwt_secret.get_secret_value() == jwt
    assert again.cursor_secret.get_secret_value() == cursor
    assert elsewhere.jwt_secret.get_secret_value() != jwt
    for name in ("jwt_secret", "cursor_secret"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    # A key that is given is used as it is, and the other still comes from the directory.
    given = Settings(keys_dir=tmp_path / "keys", jwt_secret="g" * 32)
    assert given.jwt_secret.get_secret_value() == "g" * 32
    assert given.cursor_secret.get_secret_value() == cursor


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt_secret"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: local_key(path), range(32)))
    assert keys == {path.read_text().strip()}
    assert sorted(p.name for p in path.parent.iterdir()) == ["jwt_secret"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("https://shop.example", ["https://shop.example"]),
        (" https://a.example , https://b.example,", ["https://a.example", "https://b.example"]),
        ("*", ["*"]),
    ],
)
def test_cors_origins_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", raw)
    assert Settings().cors_allowed_origins == expected


def test_limits_and_headers_are_safe_by_default() -> None:
    settings = Settings()
    assert settings.max_body_bytes == 1 << 20
    assert settings.request_timeout_seconds == 30
    assert settings.cors_allowed_origins == []
    assert settings.tls_terminated is False


def test_oidc_is_off_unless_an_issuer_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "")
    assert Settings().oidc_issuer is None


def test_oidc_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://clerk.shop.example")
    monkeypatch.setenv("OIDC_AUTHORIZED_PARTIES", "https://shop.example, https://admin.example,")
    settings = Settings()
    assert settings.oidc_authorized_parties == ("https://shop.example", "https://admin.example")
    assert (settings.oidc_audience, settings.oidc_jwks_url) == (None, None)
    assert settings.oidc_leeway_seconds == 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "OIDC_ISSUER needs OIDC_AUDIENCE or OIDC_AUTHORIZED_PARTIES"),
        ({"OIDC_AUDIENCE": "api", "JWT_ISSUER": "https://idp"}, "must differ from JWT_ISSUER"),
    ],
)
def test_oidc_settings_refused(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://idp")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_the_llm_is_local_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLM_PROVIDER", "LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.llm_provider, settings.llm_api_key) == ("local", None)
    assert settings.llm_base_url == "https://api.openai.com/v1"
    assert (settings.llm_timeout_seconds, settings.llm_max_attempts) == (15, 4)
    assert (settings.llm_breaker_threshold, settings.llm_breaker_cooldown_seconds) == (5, 30)


def test_the_openai_provider_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_API_KEY", "")  # empty is unset
    with pytest.raises(ValidationError, match="LLM_API_KEY must be set when LLM_PROVIDER=openai"):
        Settings()
    monkeypatch.setenv("LLM_API_KEY", "sk-live-do-not-print")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:8765/v1/")
    settings = Settings()
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-live-do-not-print"
    assert settings.llm_base_url == "http://127.0.0.1:8765/v1"
    assert "sk-live-do-not-print" not in repr(settings)


def test_the_llm_base_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="must be an http:// or https:// URL") as caught:
        Settings(llm_base_url="file:///etc/passwd")
    assert "/etc/passwd" not in str(caught.value)
