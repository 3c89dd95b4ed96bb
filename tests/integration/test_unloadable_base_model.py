"""A base model that cannot be loaded (a hub id while the hub is off, a folder that does not exist) gives /setup
and /predict a 422 that names the setting, the offline switch and what to do, never a 500 "internal error"; the
service keeps answering /health."""

from __future__ import annotations

import pytest

from bench.corpus import LABEL_CONFIG

SETUP = {"project": "1.1795511008", "schema": LABEL_CONFIG}
PREDICT = {"tasks": [{"id": 1, "data": {"text": "Angela Merkel visited Paris"}}], "label_config": LABEL_CONFIG}


@pytest.mark.parametrize("name", ["dslim/bert-base-NER", "/nonexistent/checkpoint"])
def test_setup_and_predict_answer_422_naming_the_setting_and_the_fix(make_client, name):
    client = make_client(BASELINE_MODEL_NAME=name)
    setup = client.post("/setup", json=SETUP)
    assert setup.status_code == 422, setup.json
    error = setup.json["error"]
    assert f"BASELINE_MODEL_NAME={name!r}" in error and "HF_HUB_OFFLINE" in error and "local checkpoint" in error
    predict = client.post("/predict", json={**PREDICT, "project": "1.1795511008"})
    assert predict.status_code == 422 and "BASELINE_MODEL_NAME" in predict.json["error"]
    assert client.get("/health").status_code == 200


def test_a_wrong_finetuned_model_name_is_named_as_such(make_client):
    client = make_client(FINETUNED_MODEL_NAME="nobody/no-such-model")
    answer = client.post("/setup", json=SETUP)
    assert answer.status_code == 422 and "FINETUNED_MODEL_NAME='nobody/no-such-model'" in answer.json["error"]
