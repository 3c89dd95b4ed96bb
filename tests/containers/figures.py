"""The container test's figures (image size, build time, time to healthy, time to a trained version): recorded by
the test, printed at the end of the run (conftest.py) and kept in a JSON file, for the README's figures."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

FIGURES: dict[str, float] = {}
FIGURES_FILE = Path(tempfile.gettempdir()) / "nerb-stack-figures.json"


def record(name: str, value: float) -> None:
    FIGURES[name] = round(value, 1)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1))
