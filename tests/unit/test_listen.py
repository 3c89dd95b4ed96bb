"""web.listen: where the server may listen, from HOST and the auth settings (the processes: test_listen_address)."""

from __future__ import annotations

import pytest

from settings import Settings
from web.listen import Listen, ListenRefused, is_loopback, listen_on

OPEN = Settings.from_env({})
AUTH = Settings.from_env({"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"})
OPTED_IN = Settings.from_env({"ALLOW_OPEN_NETWORK": "true"})
SECRET_ONLY = Settings.from_env({"WEBHOOK_SECRET": "hook"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.org", "host-a", ""])
def test_other_addresses_and_names_count_as_beyond_loopback(host):
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "settings, host",
    [(OPEN, "127.0.0.1"), (SECRET_ONLY, "127.0.0.1"), (AUTH, "0.0.0.0"), (OPTED_IN, "0.0.0.0")],
)
def test_the_default_is_loopback_unless_basic_auth_or_the_opt_in(settings, host):
    assert listen_on("", settings).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "host-a"])
@pytest.mark.parametrize("settings", [OPEN, SECRET_ONLY])
def test_an_address_beyond_loopback_without_basic_auth_is_refused_naming_the_settings(host, settings):
    with pytest.raises(ListenRefused) as refused:
        listen_on(host, settings)
    message = str(refused.value)
    assert host in message
    assert "BASIC_AUTH_USER" in message and "BASIC_AUTH_PASS" in message and "ALLOW_OPEN_NETWORK=true" in message


def test_an_address_beyond_loopback_is_allowed_with_basic_auth_silently():
    assert listen_on("10.0.0.5", AUTH) == Listen("10.0.0.5", None)


def test_the_opt_in_opens_it_with_a_warning():
    listen = listen_on("0.0.0.0", OPTED_IN)
    assert listen.host == "0.0.0.0"
    assert "ALLOW_OPEN_NETWORK=true" in listen.warning and "no authentication" in listen.warning


def test_the_loopback_default_says_how_to_be_reached_from_elsewhere():
    warning = listen_on("", OPEN).warning
    assert "127.0.0.1 only" in warning and "BASIC_AUTH_USER" in warning and "ALLOW_OPEN_NETWORK" in warning
    assert listen_on("127.0.0.1", OPEN).warning is None, "an explicit loopback HOST needs no explanation"
