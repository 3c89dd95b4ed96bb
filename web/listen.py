"""Where the HTTP server may listen: loopback unless every request must authenticate (basic auth) or the operator
opted in (ALLOW_OPEN_NETWORK). Read by gunicorn.conf.py and `python _wsgi.py` before anything listens.

Without basic auth every route is open, and without an API key training reads the annotations webhooks delivered:
anyone who reaches the port could post forged annotations and steer what the model learns. A webhook secret alone
does not count: `web.app` checks it only when basic auth is on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from settings import Settings, SettingsError

LOOPBACK = "127.0.0.1"
EVERY_INTERFACE = "0.0.0.0"


class ListenRefused(SettingsError):
    """An address beyond loopback without basic auth and without the opt-in; the message names what to set."""


@dataclass(frozen=True)
class Listen:
    """The address to listen on, and the warning to log about it (None: nothing to say)."""

    host: str
    warning: str | None = None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; any other name counts as beyond loopback (it may resolve anywhere)."""
    bare = host.strip().strip("[]")
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def guarded(settings: Settings) -> bool:
    return bool(settings.basic_auth_user)


def listen_on(requested: str, settings: Settings) -> Listen:
    """`requested` (HOST or --bind's host; empty: choose) checked against the settings; ListenRefused if it is
    beyond loopback while nothing asks for credentials and ALLOW_OPEN_NETWORK is off."""
    open_ok = guarded(settings) or settings.allow_open_network
    host = requested.strip() or (EVERY_INTERFACE if open_ok else LOOPBACK)
    if is_loopback(host):
        if requested.strip() or guarded(settings):
            return Listen(host)
        return Listen(
            host,
            f"listening on {host} only, so no other machine (nor anything outside this container) reaches it: "
            "set BASIC_AUTH_USER and BASIC_AUTH_PASS to listen on every interface, or ALLOW_OPEN_NETWORK=true to "
            "do so without authentication",
        )
    if not open_ok:
        raise ListenRefused(
            f"refusing to listen on {host} without authentication: anyone who reaches it could post annotations "
            "and change what the model learns. Set BASIC_AUTH_USER and BASIC_AUTH_PASS (WEBHOOK_SECRET alone does "
            "not count: it is checked only with basic auth), or ALLOW_OPEN_NETWORK=true to listen there without "
            f"authentication, or HOST={LOOPBACK} (or leave HOST unset) to listen on this machine only"
        )
    if guarded(settings):
        return Listen(host)
    return Listen(
        host,
        f"ALLOW_OPEN_NETWORK=true: listening on {host} with no authentication; anyone who reaches it can post "
        "annotations and change what the model learns (set BASIC_AUTH_USER and BASIC_AUTH_PASS to require them)",
    )
