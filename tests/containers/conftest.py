"""Prints the container test's figures (tests/containers/figures.py) at the end of the run, passed or not."""

from __future__ import annotations

from tests.containers.figures import FIGURES, FIGURES_FILE


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("-", "container stack figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
        terminalreporter.write_line(f"(also in {FIGURES_FILE})")
