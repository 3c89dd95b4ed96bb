"""After a deploy the worker imports predictions for the unlabelled tasks: the same predictions /predict serves."""
from __future__ import annotations

from ner.pool import ModelPool
from ner.store import ModelStore
from prediction import settings_ranking
from settings import Settings
from tests.data.corpus import LABEL_CONFIG
from training.refresh import PredictionRefresh

TEXTS = ["Angela Merkel met Sony in Tokyo.", "maybe Apple", "nothing here", "Tim Cook flew to Paris."]


class LabelStudioProjectDouble:
    """The three calls the refresh makes, answered from memory (Label Studio itself is covered by tests/e2e)."""

    def __init__(self, tasks: list[dict]):
        self.unlabelled = tasks
        self.imported: list[dict] = []
        self.model_version = None

    def tasks(self, project: int, annotated: bool | None = None):
        assert annotated is False
        return iter(self.unlabelled)

    def import_predictions(self, project: int, predictions: list[dict]) -> int:
        self.imported += predictions
        return len(predictions)

    def set_model_version(self, project: int, version: str) -> None:
        self.model_version = version


def test_the_refresh_imports_what_predict_serves_and_points_the_project_at_the_version(
        rule_model_dir, make_client, tmp_path):
    tasks = [{"id": 10 + i, "data": {"text": text}} for i, text in enumerate(TEXTS)]
    env = {"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "models")}
    served = make_client(**env).post("/predict", json={"tasks": tasks, "project": 1, "label_config": LABEL_CONFIG})
    assert served.status_code == 200

    settings = Settings.from_env(env)
    pool = ModelPool(settings, ModelStore(settings.model_dir))
    api = LabelStudioProjectDouble(tasks)
    refresh = PredictionRefresh(pool, lambda project: settings_ranking(settings, None).single_pass())
    assert refresh(api, "1", LABEL_CONFIG) == len(tasks)
    assert api.imported == [{"task": t["id"], **p} for t, p in zip(tasks, served.json["results"])]
    assert any(p["result"] for p in api.imported)  # the rule model finds entities: not an empty comparison
    assert api.model_version == served.json["results"][0]["model_version"]
