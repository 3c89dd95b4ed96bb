"""Where the repository and the recorded Label Studio requests are, and how to read one of those requests."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "label-studio-1.23.2"  # requests a real Label Studio 1.23.2 sent


def fixture(name: str) -> dict:
    """A request Label Studio 1.23.2 really sent: {"method", "path", "headers", "body"}."""
    return json.loads((FIXTURES / f"{name}.json").read_text())
