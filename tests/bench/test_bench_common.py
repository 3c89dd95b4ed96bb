"""bench.common's plain functions: percentiles and the markdown table every benchmark prints."""

from __future__ import annotations

import pytest


def test_table_and_percentiles_are_plain_functions():
    from bench.common import format_table, latency_summary, percentile

    assert percentile([1, 2, 3, 4], 50) == 2.5
    summary = latency_summary([0.010, 0.020, 0.030])
    assert summary["p50_ms"] == pytest.approx(20.0) and summary["n"] == 3
    table = format_table(["a", "bb"], [[1, 2.5], ["x", 12.25]]).splitlines()
    assert table[0] == "| a | bb   |" and table[1] == "|---|------|" and table[3] == "| x | 12.2 |"
