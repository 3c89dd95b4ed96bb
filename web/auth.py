"""Basic auth for every route, a webhook secret for Label Studio's webhook (which carries no credentials), and
the loopback rule for admin routes when no basic auth is configured."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from typing import Mapping

# Headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its socket address says.
FORWARDED_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


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


def from_loopback(remote_addr: str | None, headers: Mapping[str, str]) -> bool:
    """True for a client on this machine (127.0.0.0/8, ::1) that no proxy forwarded."""
    if any(headers.get(name) for name in FORWARDED_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
