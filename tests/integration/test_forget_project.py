"""Forgetting a project: Label Studio's PROJECT_DELETED webhook and an operator's `DELETE /projects/<id>` delete
what the backend keeps for it (versions and the deployed pointer, the label config, the annotation mirror, lead
times, job state, the models in memory), on the local store and on MLflow's registry with Redis, and nothing of
another project; a training job that ends after the delete removes what it saved instead of bringing it back."""

from __future__ import annotations

import threading

import pytest
import redis

from bench.corpus import LABEL_CONFIG, make_tasks
from infra.annotation_mirror import AnnotationMirror, RedisAnnotationMirror
from infra.job_state import LocalJobState, RedisJobState, new_job_id
from infra.lead_times import AnnotationTimes
from services.forget import Kept, forget_project
from services.train_job import JobContext, execute
from settings import Settings
from store.local import LocalStore
from store.opening import open_store
from tests.support.bodies import annotation_webhook, predict_body

ELSEWHERE = {"REMOTE_ADDR": "10.1.2.3"}  # a client on another machine


def fill(directory):
    (directory / "weights.bin").write_text("w")


def feed(client, project: int, n: int = 3) -> None:
    """What Label Studio's traffic leaves behind: the label config (/setup), annotations with lead times (mirror,
    lead times, counter), a model served in memory (/predict)."""
    key = f"{project}.1795511008"
    assert client.post("/setup", json={"project": key, "schema": LABEL_CONFIG}).status_code == 200
    for i, task in enumerate(make_tasks(n, seed=project)):
        body = annotation_webhook(task, annotated=i + 1, project=project)
        body["annotation"]["lead_time"] = 12.5
        assert client.post("/webhook", json=body).status_code == 201
    assert client.post("/predict", json=predict_body(project=key)).status_code == 200


def kept_files(models) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.is_dir() else []


def test_the_operator_request_deletes_what_is_kept_for_the_project_and_nothing_else(
    make_client, rule_model_dir, tmp_path
):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    models = tmp_path / "models"
    feed(client, 1)
    feed(client, 2)
    store = LocalStore(models)
    names = [store.save("1", n, fill, {"labels": ["PER"]}).name for n in (2, 3)]
    store.deploy("1", names[-1])

    answer = client.delete("/projects/1")

    assert answer.status_code == 200, answer.json
    deleted = answer.json["deleted"]
    assert answer.json["project_id"] == 1
    assert deleted["annotation_mirror"] == {"tasks": 3} and deleted["lead_times"] == {"observations": 3}
    assert deleted["model_store"]["versions"] == names and deleted["model_store"]["deployed"] == names[-1]
    assert deleted["model_store"]["label_config"] is True and deleted["job_state"] is True
    assert deleted["in_memory"] is True and deleted["served_predictions"]["servings"] >= 1  # the team view's
    assert kept_files(models) == ["2"]  # nothing of project 1 left, not even a hidden leftover
    assert "1" not in client.get("/versions").json["projects"]
    assert "1" not in client.get("/train_status").json["jobs"]
    assert "1" not in client.get("/health").json["models"]
    # project 2 untouched
    assert len(AnnotationMirror(store).tasks("2")) == 3
    assert AnnotationTimes(store).observations("2")[1] == [12.5] * 3
    assert store.label_config("2") == LABEL_CONFIG
    assert client.get("/train_status?project=2").json["jobs"]["2"]["annotations_since_last_job"] == 3
    assert "2" in client.get("/health").json["models"]

    again = client.delete("/projects/1")
    assert again.status_code == 404 and "nothing is kept for project 1" in again.json["error"]
    assert client.delete("/projects/abc").status_code == 400


def test_the_project_deleted_webhook_forgets_and_is_idempotent(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    feed(client, 1)
    body = {"action": "PROJECT_DELETED", "project": {"id": 1}}  # what Label Studio 1.23 sends (OnlyIDWebhookSerializer)

    refused = client.post("/webhook", json=body, environ_base=ELSEWHERE)
    assert refused.status_code == 403 and "loopback" in refused.json["error"]
    assert kept_files(tmp_path / "models") == ["1"]

    answer = client.post("/webhook", json=body)
    assert answer.status_code == 201 and answer.json["status"] == "forgotten"
    assert {"annotation_mirror", "lead_times", "model_store", "job_state"} <= set(answer.json["deleted"])
    assert kept_files(tmp_path / "models") == []

    again = client.post("/webhook", json=body)  # already forgotten: still a success, nothing deleted
    assert again.status_code == 201 and again.json == {"status": "forgotten", "project_id": 1, "deleted": {}}
    unknown = client.post("/webhook", json={"action": "PROJECT_DELETED", "project": {"id": 99}})
    assert unknown.status_code == 201 and unknown.json["deleted"] == {}
    no_id = client.post("/webhook", json={"action": "PROJECT_DELETED"})  # a webhook created without its payload
    assert no_id.status_code == 400 and "project" in no_id.json["error"]


def test_forgetting_needs_credentials_when_basic_auth_is_set_and_loopback_otherwise(
    make_client, rule_model_dir, tmp_path
):
    open_client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    feed(open_client, 1)
    refused = open_client.delete("/projects/1", environ_base=ELSEWHERE)
    assert refused.status_code == 403 and "BASIC_AUTH_USER" in refused.json["error"]
    assert kept_files(tmp_path / "models") == ["1"]

    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER="ops", BASIC_AUTH_PASS="s3cret", WEBHOOK_SECRET="hook"
    )
    assert client.delete("/projects/1").status_code == 401  # loopback is no credential once basic auth is set
    assert client.delete("/projects/1", auth=("ops", "wrong")).status_code == 401
    body = {"action": "PROJECT_DELETED", "project": {"id": 1}}
    assert client.post("/webhook", json=body).status_code == 401
    assert kept_files(tmp_path / "models") == ["1"]
    answer = client.delete("/projects/1", auth=("ops", "s3cret"), environ_base=ELSEWHERE)
    assert answer.status_code == 200 and answer.json["deleted"]["model_store"]
    assert kept_files(tmp_path / "models") == []
    hooked = client.post("/webhook?secret=hook", json=body, environ_base=ELSEWHERE)  # Label Studio's way in
    assert hooked.status_code == 201 and hooked.json["deleted"] == {}


def test_registry_and_redis_keep_nothing_of_a_forgotten_project(
    make_client, rule_model_dir, mlflow_server, private_redis, tmp_path, fresh_project
):
    from mlflow.tracking import MlflowClient

    from store.mlflow_registry import MlflowStore, registered_model_name

    gone, other = int(fresh_project), int(fresh_project) + 1000
    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        MODEL_STORE="mlflow",
        MLFLOW_TRACKING_URI=mlflow_server.url,
        REDIS_URL=private_redis.url,
    )
    feed(client, gone)
    feed(client, other)
    worker_store = MlflowStore(mlflow_server.url, tmp_path / "worker-cache")  # where a job saves, on its own host
    names = [worker_store.save(gone, n, fill, {"labels": ["PER"]}).name for n in (2, 3)]
    worker_store.deploy(gone, names[0])
    worker_store.save(other, 3, fill, {"labels": ["PER"]})
    connection = redis.Redis.from_url(private_redis.url)
    keys = lambda p: sorted(k for k in map(bytes.decode, connection.scan_iter("nerb:*")) if str(p) in k.split(":"))  # noqa: E731
    assert keys(gone) and keys(other)

    answer = client.delete(f"/projects/{gone}")

    assert answer.status_code == 200, answer.json
    deleted = answer.json["deleted"]
    registry = deleted["model_store"]
    assert registry["versions"] == names and registry["deployed"] == names[0]
    assert registry["registered_model"] == registered_model_name(str(gone))
    assert registry["runs_kept"] == f"ner-project-{gone}"
    assert deleted["annotation_mirror"] == {"tasks": 3} and deleted["lead_times"] == {"observations": 3}
    mlflow = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    assert mlflow.search_registered_models(f"name='{registered_model_name(str(gone))}'") == []
    assert [m.name for m in mlflow.search_registered_models(f"name='{registered_model_name(str(other))}'")]
    assert keys(gone) == []  # no job ran, so not even a tombstone
    assert f"nerb:annotations:{other}" in keys(other) and f"nerb:lead_times:{other}" in keys(other)
    assert f"nerb:served:{other}" in keys(other) and deleted["served_predictions"]["servings"] >= 1
    assert not (tmp_path / "models" / str(gone)).exists() and (tmp_path / "models" / str(other)).is_dir()
    assert client.delete(f"/projects/{gone}").status_code == 404


class GatedMirror:
    """The job's real mirror, holding the job right after it read its tasks until the test opens the gate."""

    def __init__(self, mirror):
        self.mirror = mirror
        self.read = threading.Event()
        self.gate = threading.Event()

    def tasks(self, project):
        tasks = self.mirror.tasks(project)
        self.read.set()
        assert self.gate.wait(120)
        return tasks


@pytest.fixture(params=["local store, in-process state", "mlflow registry, redis state"])
def job_parts(request, rule_model_dir, tmp_path):
    env = {
        "MODEL_DIR": str(tmp_path / "models"),
        "BASELINE_MODEL_NAME": str(rule_model_dir),
        "DEPLOY_POLICY": "always",
        "MIN_TRAIN_STEPS": "20",
        "NUM_TRAIN_EPOCHS": "2",
    }
    if request.param.startswith("local"):
        settings = Settings.from_env(env)
        store = open_store(settings)
        return settings, store, LocalJobState(), AnnotationMirror(store), None
    server = request.getfixturevalue("mlflow_server")
    private = request.getfixturevalue("private_redis")
    settings = Settings.from_env({**env, "MODEL_STORE": "mlflow", "MLFLOW_TRACKING_URI": server.url})
    connection = redis.Redis.from_url(private.url)
    return settings, open_store(settings), RedisJobState(connection), RedisAnnotationMirror(connection), connection


def test_a_job_that_finishes_after_the_delete_does_not_bring_the_project_back(job_parts, fresh_project):
    settings, store, job_state, mirror, connection = job_parts
    project = fresh_project
    store.save_label_config(project, LABEL_CONFIG)
    for task in make_tasks(12, seed=3):
        mirror.record(project, {"id": task["id"], "data": task["data"]}, task["annotations"][0])
    job_id = new_job_id(project)
    assert job_state.request(project, "test", job_id) == "enqueue"
    gated = GatedMirror(mirror)
    context = JobContext(settings, store, job_state, enqueue=lambda p, j: None, mirror=gated)
    ended: list[dict] = []
    job = threading.Thread(target=lambda: ended.append(execute(project, job_id, context)))
    job.start()
    try:
        assert gated.read.wait(120), "the job never read its annotations"
        answer = forget_project(project, Kept(store, job_state, mirror, AnnotationTimes(store, connection)))
        assert {"job_state", "annotation_mirror", "model_store"} <= set(answer["deleted"])
    finally:
        gated.gate.set()  # the job trains and saves only now, after the delete
        job.join(300)
    (summary,) = ended
    assert summary.get("forgotten") is True, summary
    assert summary["deployed"] is False and "forgotten" in summary["reason"]  # the deploy guard refused
    assert store.versions(project) == [] and store.deployed(project) is None and store.label_config(project) is None
    assert not store.project_dir(project).exists()
    assert job_state.status(project)[project]["state"] == "forgotten"  # a tombstone: no data, one timestamp
    assert job_state.request(project, "a new project with this id", new_job_id(project)) == "enqueue"


def test_a_job_queued_before_the_delete_never_runs(rule_model_dir, tmp_path):
    settings = Settings.from_env({"MODEL_DIR": str(tmp_path / "models"), "BASELINE_MODEL_NAME": str(rule_model_dir)})
    store, job_state = LocalStore(settings.model_dir), LocalJobState()
    store.save_label_config("1", LABEL_CONFIG)
    job_id = new_job_id("1")
    job_state.request("1", "test", job_id)
    forget_project("1", Kept(store, job_state))
    context = JobContext(settings, store, job_state, enqueue=lambda p, j: None, mirror=AnnotationMirror(store))
    assert execute("1", job_id, context) == {"skipped": "its project was forgotten before it started"}
    assert kept_files(tmp_path / "models") == []
