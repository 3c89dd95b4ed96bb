"""The one exception-to-status table (`web.errors.client_error_statuses`) and the app's error handler: the most
specific listed class wins whatever the table's order, a fault of our own model is a 500 with a log line, and every
client error keeps the status it had when the table was assembled from import-time `register` calls."""

from __future__ import annotations

import logging
import random

import pytest

import uncertainty
from infra.dispatch import JobStateUnavailable, WebhookError
from infra.label_studio import LabelStudioError, LabelStudioNotConfigured, LabelStudioProjectNotFound
from modeling.base_model import BaseModelUnavailable
from modeling.batching import BatchTimeout
from services.forget import ForgetIncomplete, ProjectNotKept
from services.select import SelectionInputError
from services.team_view import UnknownProject
from settings import Settings
from store.local import InvalidProjectError, StoreUnavailable, UnknownVersionError
from text.label_config import LabelConfigError
from uncertainty.errors import InvalidProbabilitiesError, InvalidTagsError
from web.app import create_app
from web.base import LabelStudioMLBase
from web.errors import ApiError, as_api_error, client_error_statuses

# The statuses the client errors had before the table (model.py's and web/app.py's import-time registrations).
# `uncertainty.UncertaintyError -> 400` covered the whole family; the subclasses a request can cause keep 400.
STATUSES_BEFORE = [
    (InvalidProjectError, 400),
    (UnknownVersionError, 404),
    (StoreUnavailable, 503),
    (uncertainty.UnknownStrategyError, 400),
    (uncertainty.InvalidParameterError, 400),
    (uncertainty.InvalidLimitError, 400),
    (LabelStudioProjectNotFound, 404),
    (LabelStudioNotConfigured, 400),
    (LabelStudioError, 502),
    (WebhookError, 400),
    (JobStateUnavailable, 503),
    (BatchTimeout, 503),
    (SelectionInputError, 400),
    (LabelConfigError, 422),
    (BaseModelUnavailable, 422),  # added since: a base model that cannot be loaded (was a 500 "internal error")
    (ProjectNotKept, 404),  # added since: DELETE /projects/<id> for a project nothing is kept for
    (ForgetIncomplete, 503),  # added since: a forget that could not reach Redis or the registry for some part
    (UnknownProject, 404),  # added since: the team view of a project this backend has never seen
]
# Raised when our model's output is malformed: the server's fault, never the client's.
SERVER_FAULTS = [InvalidProbabilitiesError, InvalidTagsError]


def raised(exception_type: type[BaseException]) -> BaseException:
    if exception_type is uncertainty.UnknownStrategyError:
        return exception_type("nonsense", ["entropy", "least_confidence"])
    return exception_type(f"a {exception_type.__name__} happened")


class Base(Exception):
    pass


class Child(Base):
    pass


class Grandchild(Child):
    pass


@pytest.mark.parametrize("seed", range(6))
def test_the_most_specific_listed_class_wins_whatever_the_order(seed):
    table = [(Base, 400), (Child, 409), *client_error_statuses()]
    random.Random(seed).shuffle(table)
    table = tuple(table)
    assert as_api_error(Grandchild("g"), table).status == 409
    assert as_api_error(Child("c"), table).status == 409
    assert as_api_error(Base("b"), table).status == 400
    assert as_api_error(LabelStudioProjectNotFound("p"), table).status == 404
    assert as_api_error(LabelStudioNotConfigured("n"), table).status == 400
    assert as_api_error(LabelStudioError("e"), table).status == 502
    assert as_api_error(ValueError("v"), table) is None


def test_an_api_error_is_its_own_answer_and_a_domain_error_keeps_its_field():
    error = ApiError("nope", field="limit", status=418)
    assert as_api_error(error, ()) is error
    answer = as_api_error(SelectionInputError("task #2: bad id", field="tasks[].id"), client_error_statuses())
    assert (answer.status, answer.body()) == (400, {"error": "task #2: bad id", "field": "tasks[].id"})


def test_the_table_lists_each_class_once_and_keeps_the_statuses_before_it():
    table = client_error_statuses()
    assert len({cls for cls, _ in table}) == len(table)
    assert sorted(table, key=lambda row: row[0].__name__) == sorted(STATUSES_BEFORE, key=lambda row: row[0].__name__)


class Raising(LabelStudioMLBase):
    """A backend whose /predict raises what the test puts in `error`."""

    error: BaseException | None = None

    def predict(self, tasks, context=None, **kwargs):
        raise type(self).error


@pytest.fixture
def client_raising(tmp_path):
    def make(error: BaseException):
        backend = type("Backend", (Raising,), {"error": error})
        app = create_app(
            Settings.from_env({"MODEL_DIR": str(tmp_path)}), lambda project, config: backend(project, config)
        )
        app.testing = True
        return app.test_client()

    return make


@pytest.mark.parametrize("exception_type, status", STATUSES_BEFORE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_client_error_under_a_route_gets_the_status_it_had(client_raising, exception_type, status):
    error = raised(exception_type)
    answer = client_raising(error).post("/predict", json={"tasks": []})
    assert answer.status_code == status
    assert answer.get_json() == {"error": str(error)}


@pytest.mark.parametrize("exception_type", SERVER_FAULTS, ids=lambda v: v.__name__)
def test_a_fault_of_our_model_under_a_route_is_a_500_with_a_log_line(client_raising, caplog, exception_type):
    with caplog.at_level(logging.ERROR, logger="web.app"):
        answer = client_raising(raised(exception_type)).post("/predict", json={"tasks": []})
    assert answer.status_code == 500
    assert answer.get_json() == {"error": "internal error; see the backend's log"}
    (record,) = [r for r in caplog.records if r.name == "web.app" and r.levelno == logging.ERROR]
    assert record.getMessage() == "unhandled error on POST /predict"
    assert record.exc_info and record.exc_info[0] is exception_type
