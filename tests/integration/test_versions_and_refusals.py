"""What Label Studio reads from GET /versions (a flat list for its model-version menu), and refused webhooks
leaving a log line (Label Studio does not resend them, so the annotation they carried goes uncounted)."""

from __future__ import annotations

import logging

from store.local import LocalStore
from tests.support.bodies import start_training_webhook
from tests.support.rule_model import save_rule_version


def test_versions_is_the_flat_list_label_studio_reads_and_keeps_them_by_project(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    assert client.get("/versions").json == {"versions": [], "projects": {}}
    store = LocalStore(tmp_path / "models")
    names = [save_rule_version(store, rule_model_dir, project, n).name for project, n in ((1, 8), (1, 9), (7, 3))]
    body = client.get("/versions").json
    assert sorted(body["versions"]) == sorted(names) and all(isinstance(v, str) for v in body["versions"])
    assert body["projects"] == {"1": names[:2], "7": names[2:]}
    one = client.get("/versions?project=7").json
    assert one == {"versions": names[2:], "projects": {"7": names[2:]}}
    assert client.get("/versions?project=nope").status_code == 400


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def test_a_refused_webhook_is_logged_with_its_reason(make_client, rule_model_dir, private_redis):
    caplog = Lines()  # the app's logging setup replaces the root handlers, so listen on the route's logger
    logging.getLogger("web.app").addHandler(caplog)
    try:
        client = make_client(BASELINE_MODEL_NAME=rule_model_dir, REDIS_URL=private_redis.url)
        assert client.post("/webhook", json={"project": {"id": 1}}).status_code == 400
        assert "webhook None refused with 400" in caplog.text
        private_redis.stop()  # Redis down: the event cannot be recorded
        answer = client.post("/webhook", json=start_training_webhook())
        assert answer.status_code == 503
        assert "webhook START_TRAINING refused with 503" in caplog.text and "Redis" in caplog.text
        secured = make_client(BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER="u", BASIC_AUTH_PASS="p")
        assert secured.post("/webhook", json=start_training_webhook()).status_code == 401
        assert "webhook refused with 401" in caplog.text
    finally:
        logging.getLogger("web.app").removeHandler(caplog)
