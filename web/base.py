"""LabelStudioMLBase: the backend contract, shaped like label-studio-ml 2.x so its users feel at home.

The app builds one instance per request, bound to the request's project and label config, through the factory
`web.app.create_app` is given; state that must outlive a request (loaded models, the model store, job queues) is
built once by the composition root (`_wsgi.create_app`) and handed to each instance by that factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from text.label_config import NerConfig, parse_ner_config

if TYPE_CHECKING:
    from services.select import SelectRequest
    from services.team_view import TeamView


class LabelStudioMLBase:
    """Subclass and implement `setup`, `predict` and `fit` (and optionally `health`, `metrics`)."""

    def __init__(self, project_id: str | None = None, label_config: str | None = None):
        self.project_id = project_id
        self.label_config = label_config

    @property
    def ner_config(self) -> NerConfig:
        return parse_ner_config(self.label_config or "")

    def setup(self) -> str:
        """Prepare for the project (cheaply: Label Studio waits 3 s) and return the model version served."""
        raise NotImplementedError

    def setup_details(self) -> dict:
        """Extra fields of /setup's answer (e.g. which controls are served); none by default."""
        return {}

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

    # The routes this backend adds to Label Studio's protocol (GET /versions, POST /deploy, POST /select_samples,
    # GET /train_status, DELETE /projects/<id>); a subclass that serves them overrides these.

    def versions(self, project: str | None = None) -> dict:
        raise NotImplementedError

    def deploy(self, body: dict) -> dict:
        raise NotImplementedError

    def select_samples(self, request: SelectRequest) -> dict:
        raise NotImplementedError

    def deployed_versions(self) -> dict[str, str | None]:
        raise NotImplementedError

    def train_status(self, project: str | None) -> dict:
        raise NotImplementedError

    def forget(self, project: object, missing_ok: bool = False) -> dict:
        """Delete everything kept for the project (its deletion in Label Studio, or an operator's request)."""
        raise NotImplementedError

    def team_view(self) -> TeamView:
        """What the team page shows (web/team.py)."""
        raise NotImplementedError
