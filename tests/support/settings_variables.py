"""The environment variables the service reads, as declared once in settings/: the deployment files and the README
must list exactly these."""

from __future__ import annotations


class RecordingEnv(dict):
    """An environment that records every name read from it (to compare what from_env reads with the declaration)."""

    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def settings_variables() -> set[str]:
    """Every variable the service's settings read (aliases included), as declared."""
    from settings import SETTINGS

    return {name for declaration in SETTINGS for name in declaration.names}
