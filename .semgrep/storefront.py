# Cases for storefront.yaml, checked by `semgrep --test .semgrep` (not imported, not run).
# ruff: noqa
import asyncio
import os
import ssl
import subprocess

# ruleid: fastapi-in-storefront
import fastapi
import httpx
import jwt
import yaml
# ruleid: fastapi-in-storefront
from fastapi import FastAPI
from pydantic import Field, SecretStr
# ok: fastapi-in-storefront
from starlette.applications import Starlette

# ruleid: tls-verification-disabled
httpx.get("https://idp.example/jwks", verify=False)
# ruleid: tls-verification-disabled
context = ssl._create_unverified_context()
# ruleid: tls-verification-disabled
context.verify_mode = ssl.CERT_NONE
# ok: tls-verification-disabled
httpx.get("https://idp.example/jwks", verify="/etc/ssl/ca.pem")

# ruleid: yaml-load-without-safe-loader
yaml.load(text)
# ruleid: yaml-load-without-safe-loader
yaml.load(text, Loader=yaml.Loader)
# ruleid: yaml-load-without-safe-loader
yaml.unsafe_load(text)
# ok: yaml-load-without-safe-loader
yaml.load(text, Loader=yaml.CSafeLoader)
# ok: yaml-load-without-safe-loader
yaml.safe_load(text)

# ruleid: subprocess-shell
subprocess.run(f"git show {ref}", shell=True, check=True)
# ruleid: subprocess-shell
os.system("make")
# ruleid: subprocess-shell
asyncio.create_subprocess_shell(command)
# ok: subprocess-shell
subprocess.run(["git", "show", ref], check=True)

# ruleid: hardcoded-secret
JWT_SECRET = "dev-only-signing-key-0123456789"  # pragma: allowlist secret
# ruleid: hardcoded-secret
_DEV_CURSOR_SECRET = "dev-only-cursor-secret-0123456789"  # pragma: allowlist secret


class Settings:
    # ruleid: hardcoded-secret
    api_key: str = "sk_live_0123456789abcdef"  # pragma: allowlist secret
    # ruleid: hardcoded-secret
    jwt_secret: SecretStr = Field(default="a-long-default-secret-value")  # pragma: allowlist secret
    # ok: hardcoded-secret
    jwt_secret_file: str = "/run/secrets/jwt"
    # ok: hardcoded-secret
    password: SecretStr = Field(default=SecretStr(""))


# ruleid: hardcoded-secret
connect(password="correct-horse-battery")  # pragma: allowlist secret
# ok: hardcoded-secret
connect(password=settings.database_password)
# ok: hardcoded-secret
GRANT_TYPE_PASSWORD = "password"  # pragma: allowlist secret

# ruleid: jwt-decode-unverified
jwt.decode(token, options={"verify_signature": False})
# ruleid: jwt-decode-unverified
jwt.decode(token, key)
# ok: jwt-decode-unverified
jwt.decode(token, key, algorithms=["RS256"], audience="storefront")
