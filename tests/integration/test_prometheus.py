"""/metrics/prometheus in Prometheus' text format, correct across gunicorn's worker processes: after K predictions
spread over two workers, a scrape parsed with prometheus_client's own parser reads K; jobs by state and the
deployed version come from the service's state at scrape time. Today's JSON /metrics is unchanged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.corpus import LABEL_CONFIG
from bench.servers import start_gunicorn
from store.local import LocalStore
from tests.support.rule_model import save_rule_version

K = 40


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_predictions_over_two_workers_add_up_and_state_is_read_at_scrape(tmp_path, rule_model_dir):
    models = tmp_path / "models"
    version = save_rule_version(LocalStore(models), rule_model_dir, 3, annotations=5)
    LocalStore(models).deploy("3", version.name)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    proc, url = start_gunicorn(
        tmp_path,
        workers=2,
        threads=1,
        MODEL_DIR=models,
        BASELINE_MODEL_NAME=rule_model_dir,
        PROMETHEUS_MULTIPROC_DIR=shared,
    )
    try:
        body = {
            "tasks": [{"id": 1, "data": {"text": "Angela Merkel visited Paris"}}],
            "label_config": LABEL_CONFIG,
            "project": "3.1795511008",
        }
        with ThreadPoolExecutor(8) as pool:  # sync workers: a busy worker leaves the next request to the other
            answers = list(pool.map(lambda _: requests.post(url + "/predict", json=body, timeout=60), range(K)))
        assert all(a.status_code == 200 for a in answers)
        pids = {p.name.split("_")[1] for p in shared.glob("counter_*.db")}
        assert len(pids) == 2, f"the predictions were not spread over both workers: {sorted(pids)}"
        scraped = requests.get(url + "/metrics/prometheus", timeout=10)
        assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith("text/plain")
        found = families(scraped.text)
        served = sum(s.value for s in found["nerb_predictions"].samples if s.name == "nerb_predictions_total")
        assert served == K
        counts = [
            s
            for s in found["nerb_request_seconds"].samples
            if s.name == "nerb_request_seconds_count" and s.labels["route"] == "/predict"
        ]
        assert counts and counts[0].value == K
        deployed = [s.labels for s in found["nerb_deployed_version"].samples]
        assert deployed == [{"project": "3", "version": version.name}]
        assert "nerb_jobs" in found
        assert isinstance(requests.get(url + "/metrics", timeout=10).json(), dict)  # the JSON one stays
    finally:
        proc.stop()


def test_one_process_without_gunicorn_serves_its_own_metrics(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    body = {"tasks": [{"id": 1, "data": {"text": "Paris"}}] * 3, "label_config": LABEL_CONFIG, "project": "9.1"}

    def served() -> float:
        found = families(client.get("/metrics/prometheus").get_data(as_text=True))
        return sum(s.value for s in found["nerb_predictions"].samples if s.labels.get("project") == "9")

    before = served()
    assert client.post("/predict", json=body).status_code == 200
    assert served() == before + 3
