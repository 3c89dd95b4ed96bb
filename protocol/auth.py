"""Basic auth for every route, and a webhook secret for Label Studio's webhook, which carries no credentials."""
from __future__ import annotations

import base64
import hmac


def basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    """Constant-time check of an `Authorization: Basic ...` header."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    given_user, sep, given_password = decoded.partition(":")
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    pass_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and pass_ok


def secret_ok(given: str | None, secret: str) -> bool:
    return bool(given) and bool(secret) and hmac.compare_digest(given.encode(), secret.encode())
