"""Prometheus metrics in the text exposition format, built with the official `prometheus_client`.

Counters and histograms are kept per process. Under gunicorn every worker is its own process, so they use
prometheus_client's multiprocess mode: `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before
the app is imported, each worker writes its values there, and a scrape served by any worker adds them all up
(`MultiProcessCollector`). Without that variable (the Flask dev server, tests in one process) the default
registry serves. Figures that are state rather than events (jobs by state, the deployed version) are read at scrape
time by a collector, so every worker answers the same.
"""

from __future__ import annotations

import os
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

PREDICTIONS = Counter("nerb_predictions", "Tasks answered by /predict", ["project"])
ANNOTATIONS = Counter("nerb_annotations_received", "Annotation events received by /webhook", ["action"])
LATENCY = Histogram(
    "nerb_request_seconds",
    "Seconds to answer, per route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 100.0),
)


class StateCollector:
    """Jobs by state and the deployed version of each project, read when scraped."""

    def __init__(self, jobs: Callable[[], dict], deployed: Callable[[], dict[str, str | None]]):
        self.jobs, self.deployed = jobs, deployed

    def collect(self):
        by_state = GaugeMetricFamily("nerb_jobs", "Projects whose training job is in each state", labels=["state"])
        counts: dict[str, int] = {}
        for state in self.jobs().values():
            name = str(state.get("state", "idle"))
            counts[name] = counts.get(name, 0) + 1
        for name, n in sorted(counts.items()):
            by_state.add_metric([name], n)
        yield by_state
        version = GaugeMetricFamily(
            "nerb_deployed_version", "The version each project serves (value 1)", labels=["project", "version"]
        )
        for project, name in sorted(self.deployed().items()):
            if name:
                version.add_metric([project, name], 1)
        yield version


def scrape(state: StateCollector) -> tuple[bytes, str]:
    """The exposition text and its content type: every process's counters, plus the state read now."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:  # one process: its own metrics, served again from this scrape's registry
        for metric in (PREDICTIONS, ANNOTATIONS, LATENCY):
            registry.register(_Served(metric))
    registry.register(state)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Served:
    def __init__(self, metric):
        self.metric = metric

    def collect(self):
        return self.metric.collect()
