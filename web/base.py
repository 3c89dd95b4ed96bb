"""LabelStudioMLBase: the backend contract, shaped like label-studio-ml 2.x so its users feel at home.

The app builds one instance per request, bound to the request's project and label config; state that must
outlive a request (loaded models, the model store, job queues) lives in the shared `runtime` object.
"""

from __future__ import annotations

from typing import Any

from text.label_config import NerConfig, parse_ner_config


class LabelStudioMLBase:
    """Subclass and implement `setup`, `predict` and `fit` (and optionally `health`, `metrics`)."""

    def __init__(self, runtime: Any, project_id: str | None = None, label_config: str | None = None):
        self.runtime = runtime
        self.project_id = project_id
        self.label_config = label_config

    @property
    def ner_config(self) -> NerConfig:
        return parse_ner_config(self.label_config or "")

    def setup(self) -> str:
        """Prepare for the project (cheaply: Label Studio waits 3 s) and return the model version served."""
        raise NotImplementedError

    def predict(self, tasks: list[dict], context: dict | None = None, **kwargs) -> list[dict]:
        """One prediction per task, in order: {"result": [...], "score": float, "model_version": str}."""
        raise NotImplementedError

    def fit(self, event: str, data: dict, **kwargs) -> dict:
        """React to a webhook event (answer fast: Label Studio waits 1 s); long work goes to a queue."""
        return {"status": "ignored"}

    def health(self) -> dict:
        return {}

    def metrics(self) -> dict:
        return {}
