"""The team view's routes: HTML pages for people and the JSON they read, under /team (docs/team-view.md).

Every URL the pages write is relative, so the pages work behind a reverse proxy that serves the backend under a
path prefix; scripts and styles come from this blueprint's static folder (no CDN). Templates autoescape, so a label
name or task text with HTML in it is shown as text. Errors: the app's one status table (web.errors) decides the
status; pages answer it as an HTML page, the JSON routes as the app's JSON error.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Callable

from flask import Blueprint, jsonify, render_template, request

from web.base import LabelStudioMLBase
from web.errors import BadRequest, StatusTable, as_api_error
from web.team_charts import bar_chart, line_chart

log = logging.getLogger(__name__)

POLL_S = 3.0  # how often an open page asks for fresh figures (?poll=<seconds> overrides it, 0.5 to 60)


def _page_number(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be a whole number, got {raw[:20]!r}", field=name) from None
    if value < 1:
        raise BadRequest(f"query parameter {name!r} must be 1 or more", field=name)
    return value


def _poll_seconds() -> float:
    raw = request.args.get("poll")
    if raw is None:
        return POLL_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 60:
        raise BadRequest(f"query parameter 'poll' must be seconds between 0.5 and 60, got {raw[:20]!r}", field="poll")
    return value


def when(value) -> str:
    """A timestamp as UTC text for the page ("" when unknown)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    value = int(round(value))
    return f"{value // 3600}h {value % 3600 // 60:02d}m" if value >= 3600 else f"{value // 60}m {value % 60:02d}s"


def percent(value) -> str:
    return "" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value * 100:.1f}%"


def f1(value) -> str:
    return "" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.3f}"


def charts(summary: dict) -> dict:
    """The page's charts, from the summary the JSON API answers."""
    points = summary["curve"]["points"]
    curve = line_chart(
        {
            "validation F1": [(p["annotations"], p["f1"], f"{p['version']}: F1 {f1(p['f1'])}") for p in points],
            "acceptance": [
                (p["annotations"], p["acceptance"], f"{p['version']}: {percent(p['acceptance'])} kept") for p in points
            ],
        },
        "annotations",
        "F1 / share kept",
    )
    quality = [q for q in summary["quality"]["versions"] if q["model_version"] and q["kept_share"] is not None]
    acceptance = bar_chart(
        [(q["model_version"], round(q["kept_share"] * 100, 1)) for q in quality], "version", "% kept"
    )
    pool = summary["pool"].get("distribution") or []
    scores = bar_chart([(f"{b['low']:.1f}", b["tasks"]) for b in pool], "uncertainty", "tasks")
    return {"curve": curve, "acceptance": acceptance, "pool": scores}


def team_blueprint(backend: Callable[[], LabelStudioMLBase], statuses: StatusTable) -> Blueprint:
    """The blueprint, reading the team view from `backend()` (the request's LabelStudioMLBase)."""
    bp = Blueprint("team", __name__, url_prefix="/team", static_folder="static", template_folder="templates")
    bp.add_app_template_filter(when, "team_when")
    bp.add_app_template_filter(seconds, "team_seconds")
    bp.add_app_template_filter(percent, "team_percent")
    bp.add_app_template_filter(f1, "team_f1")

    def error_page(exc: Exception):
        api_error = as_api_error(exc, statuses)
        if api_error is None:
            log.exception("team page %s failed", request.path)
            status, message = 500, "internal error; see the backend's log"
        else:
            status, message = api_error.status, api_error.message
        return render_template("team/error.html", status=status, message=message), status

    @bp.get("/")
    def index():
        try:
            listing = backend().team_view().projects()
        except Exception as exc:
            return error_page(exc)
        return render_template("team/index.html", listing=listing, generated=time.time())

    @bp.get("/<project>")
    def project_page(project: str):
        try:
            page = _page_number("page", 1)
            poll = _poll_seconds()
            summary = backend().team_view().summary(project, page=page)
        except Exception as exc:
            return error_page(exc)
        return render_template("team/project.html", s=summary, charts=charts(summary), poll_s=poll)

    @bp.get("/api/projects")
    def api_projects():
        return jsonify(backend().team_view().projects())

    @bp.get("/api/projects/<project>")
    def api_summary(project: str):
        page, per_page = _page_number("page", 1), _page_number("per_page", 50)
        return jsonify(backend().team_view().summary(project, page=page, per_page=per_page))

    @bp.get("/api/projects/<project>/history")
    def api_history(project: str):
        page, per_page = _page_number("page", 1), _page_number("per_page", 50)
        return jsonify(backend().team_view().history(project, page=page, per_page=per_page))

    return bp
