"""The Flask app: Label Studio's routes plus /select_samples and /train_status, auth, and JSON errors."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

import uncertainty
from infra.dispatch import PROJECT_DELETED
from services.select import SelectRequest
from settings import Settings
from web.auth import basic_auth_ok, from_loopback, secret_ok
from web.base import LabelStudioMLBase
from web.errors import BadRequest, as_api_error, client_error_statuses
from web.prometheus import ANNOTATIONS, LATENCY, PREDICTIONS, StateCollector, scrape
from web.team import team_blueprint

log = logging.getLogger(__name__)

# (project id, label config) -> the backend instance that answers one request
BackendFactory = Callable[[str | None, str | None], LabelStudioMLBase]

# The webhook actions counted as annotations received (a fixed set: a label per action a client invents would grow
# the metrics without bound).
ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED"}

# Routes that change what every annotator is served, or delete what is kept: without basic auth only a client on this
# machine may call them (the same holds for Label Studio's PROJECT_DELETED webhook).
ADMIN_ROUTES = {("POST", "/deploy"), ("DELETE", "/projects/<project>")}


def json_body() -> dict:
    """The request's JSON object, or a 400 naming what is wrong with it."""
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    if data is None:
        raise BadRequest("request body is not valid JSON")
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(data).__name__}")
    return data


def require(data: dict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in data or data[key] is None:
        raise BadRequest(f"missing field {key!r} ({what})", field=key)
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise BadRequest(f"field {key!r} must be {what}", field=key)
    return value


MAX_LIMIT = 100_000  # the most tasks one /select_samples call may ask for


def parse_select_request(body: dict, settings: Settings) -> SelectRequest:
    """Validate the JSON body; every problem is a 400 naming the field."""
    project = body.get("project_id", body.get("project"))
    if project is not None and (isinstance(project, bool) or not isinstance(project, (int, str))):
        raise BadRequest("field 'project_id' must be a Label Studio project id", field="project_id")
    limit = body.get("limit", settings.samples_per_iteration)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise BadRequest("field 'limit' must be an integer", field="limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"field 'limit' must be between 1 and {MAX_LIMIT}, got {limit}", field="limit")
    strategy = body.get("strategy", settings.uncertainty_strategy)
    if not isinstance(strategy, str):
        raise BadRequest("field 'strategy' must be a strategy name", field="strategy")
    uncertainty.get_strategy(strategy)  # UnknownStrategyError -> 400 listing the valid names
    reduction = body.get("reduction", settings.uncertainty_reduction)
    if not isinstance(reduction, str) or reduction not in uncertainty.REDUCTIONS:
        raise BadRequest(f"field 'reduction' must be one of {', '.join(uncertainty.REDUCTIONS)}", field="reduction")
    top_k = body.get("top_k", settings.uncertainty_top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 10_000:
        raise BadRequest("field 'top_k' must be an integer between 1 and 10000", field="top_k")
    cost_aware = body.get("cost_aware", settings.selection_cost_aware)
    if not isinstance(cost_aware, bool):
        raise BadRequest("field 'cost_aware' must be true or false", field="cost_aware")
    threshold = body.get("threshold", settings.uncertainty_threshold)
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0
    ):
        raise BadRequest("field 'threshold' must be a number between 0 and 1 (or null for none)", field="threshold")
    diversity = body.get("diversity", settings.selection_diversity)
    if not isinstance(diversity, bool):
        raise BadRequest("field 'diversity' must be true or false", field="diversity")
    tasks = body.get("tasks")
    if tasks is not None and not isinstance(tasks, list):
        raise BadRequest("field 'tasks' must be a list of task objects", field="tasks")
    if tasks is None and project is None:
        raise BadRequest("give 'project_id' (tasks are read from Label Studio) or 'tasks' inline", field="project_id")
    label_config = body.get("label_config")
    if label_config is not None and not isinstance(label_config, str):
        raise BadRequest("field 'label_config' must be the label config XML string", field="label_config")
    return SelectRequest(
        None if project is None else str(project),
        limit,
        strategy,
        reduction,
        top_k,
        cost_aware,
        None if threshold is None else float(threshold),
        diversity,
        tasks,
        label_config,
    )


def create_app(settings: Settings, make_backend: BackendFactory) -> Flask:
    """Build the app around `make_backend`, which builds the LabelStudioMLBase instance that answers a request.

    The exception-to-status table (`web.errors.client_error_statuses`) is built here, once, for this app's handler.
    """
    statuses = client_error_statuses()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False

    def backend(project: str | None = None, label_config: str | None = None) -> LabelStudioMLBase:
        return make_backend(project, label_config)

    if not settings.basic_auth_user:
        log.warning(
            "no BASIC_AUTH_USER/BASIC_AUTH_PASS: every route is open, and %s only from loopback",
            ", ".join(f"{m} {p}" for m, p in sorted(ADMIN_ROUTES)),
        )

    @app.before_request
    def start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def observe_latency(response):
        if request.url_rule is not None and "started" in g:
            LATENCY.labels(route=request.url_rule.rule).observe(time.perf_counter() - g.started)
        return response

    def admin_refusal(what: str):
        """The 403 for an admin call from another machine while basic auth is off; None when it may go on."""
        if settings.basic_auth_user or from_loopback(request.remote_addr, request.headers):
            return None
        return jsonify(
            error=f"{what} is only accepted from this machine (loopback) while basic auth is off: set "
            "BASIC_AUTH_USER and BASIC_AUTH_PASS to call it from elsewhere"
        ), 403

    @app.before_request
    def authenticate():
        if not settings.basic_auth_user:
            rule = request.url_rule.rule if request.url_rule is not None else request.path
            if (request.method, rule) in ADMIN_ROUTES:
                return admin_refusal(f"{request.method} {request.path}")
            return None
        if basic_auth_ok(request.headers.get("Authorization"), settings.basic_auth_user, settings.basic_auth_pass):
            return None
        if request.path == "/webhook" and settings.webhook_secret:
            given = request.args.get("secret") or request.headers.get("X-Webhook-Secret")
            if secret_ok(given, settings.webhook_secret):
                return None
        if request.path == "/webhook":
            log.warning(
                "webhook refused with 401: no valid credentials or secret (Label Studio does not resend it; add the "
                "webhook with ?secret=WEBHOOK_SECRET in the project's webhook settings)"
            )
        response = jsonify(error="authentication required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="ner-backend"'
        return response

    @app.errorhandler(Exception)
    def handle_error(exc: Exception):
        api_error = as_api_error(exc, statuses)
        if api_error is not None:
            _log_refused_webhook(api_error.status, api_error.message)
            return jsonify(api_error.body()), api_error.status
        if isinstance(exc, HTTPException):
            _log_refused_webhook(exc.code, exc.description or exc.name)
            return jsonify(error=exc.description or exc.name), exc.code
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="internal error; see the backend's log"), 500

    def _log_refused_webhook(status: int | None, reason: str) -> None:
        """Label Studio does not retry a refused webhook, so the annotation it carried goes uncounted: say so."""
        if request.path == "/webhook":
            action = g.get("webhook_action")  # set once the body parsed; the body is never read again here
            shown = None if action is None else str(action)[:80]
            log.warning("webhook %s refused with %s: %s (Label Studio does not resend it)", shown, status, reason)

    @app.get("/")
    @app.get("/health")
    def health():
        instance = backend()
        return jsonify(status="UP", model_class=type(instance).__name__, **instance.health())

    @app.post("/setup")
    def setup():
        data = json_body()
        project = require(data, "project", (str, int), "the Label Studio project id")
        schema = require(data, "schema", str, "the project's label config XML")
        instance = backend(str(project), schema)
        version = instance.setup()
        return jsonify(model_version=version, **instance.setup_details())

    @app.post("/predict")
    def predict():
        data = json_body()
        tasks = require(data, "tasks", list, "a list of task objects")
        project = data.get("project")
        label_config = data.get("label_config")
        if label_config is not None and not isinstance(label_config, str):
            raise BadRequest("field 'label_config' must be the label config XML string", field="label_config")
        if project is not None and not isinstance(project, (str, int)):
            raise BadRequest("field 'project' must be a project id", field="project")
        params = data.get("params") if isinstance(data.get("params"), dict) else {}
        context = params.get("context") if isinstance(params.get("context"), dict) else None
        started = time.perf_counter()
        results = backend(None if project is None else str(project), label_config).predict(tasks, context=context)
        log.info("predicted %d tasks in %.2fs", len(tasks), time.perf_counter() - started)
        PREDICTIONS.labels(project="none" if project is None else str(project).split(".")[0]).inc(len(results))
        return jsonify(results=results)

    @app.post("/webhook")
    def webhook():
        data = json_body()
        g.webhook_action = data.get("action")
        action = require(data, "action", str, "the webhook action name")
        if action == PROJECT_DELETED and (refusal := admin_refusal(f"the {action} webhook")) is not None:
            _log_refused_webhook(403, "it deletes what is kept for the project: from loopback only without basic auth")
            return refusal
        result = backend().fit(action, data)
        if action in ANNOTATION_ACTIONS:
            ANNOTATIONS.labels(action=action).inc()
        return jsonify(result), 201

    @app.get("/metrics")
    def metrics():
        return jsonify(backend().metrics())

    @app.get("/metrics/prometheus")
    def prometheus():
        """Prometheus' text format (today's JSON /metrics stays as it is)."""
        instance = backend()
        body, content_type = scrape(
            StateCollector(lambda: instance.train_status(None).get("jobs", {}), instance.deployed_versions)
        )
        return Response(body, content_type=content_type)

    @app.get("/versions")
    def versions():
        return jsonify(backend().versions(request.args.get("project") or None))

    @app.post("/select_samples")
    def select_samples():
        return jsonify(backend().select_samples(parse_select_request(json_body(), settings)))

    @app.post("/deploy")
    def deploy():
        return jsonify(backend().deploy(json_body()))

    @app.delete("/projects/<project>")
    def forget_project(project: str):
        """Delete everything kept for the project (services.forget): 404 when nothing is kept."""
        return jsonify(backend().forget(project))

    @app.get("/train_status")
    def train_status():
        return jsonify(backend().train_status(request.args.get("project")))

    app.register_blueprint(team_blueprint(backend, statuses))  # /team: the team's pages and their JSON
    return app
