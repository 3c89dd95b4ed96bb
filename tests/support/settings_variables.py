"""The environment variables the service reads: the deployment files and the README must list exactly these."""

from __future__ import annotations

import re

from tests.support.paths import REPO


class _RecordingEnv(dict):
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
    """Every variable Settings.from_env reads: recorded on a real call, plus its literal reads in settings."""
    from settings import Settings

    env = _RecordingEnv()
    Settings.from_env(env)
    source = (REPO / "settings/__init__.py").read_text()
    literal = set(re.findall(r'env\.get\(\s*"([A-Z][A-Z0-9_]*)"', source))
    literal |= set(re.findall(r'_(?:int|float|bool|choice)\(\s*env,\s*"([A-Z][A-Z0-9_]*)"', source))
    return env.read | literal
