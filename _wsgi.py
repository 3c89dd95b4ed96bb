"""App factory and entry points: `gunicorn _wsgi:app`, or `python _wsgi.py --port 9090` like Label Studio's backends."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub at run time unless the user asks
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from settings import Settings, SettingsError  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s", force=True)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app and the objects its requests share; `settings` defaults to the environment.

    The web's composition root: the process's objects are built once here (`services.runtime.serving_objects`),
    and every request's NERBackend is handed them.
    """
    from model import NERBackend
    from modeling.threads import apply_thread_budget, budget_for
    from services.runtime import serving_objects
    from web.app import create_app as create_protocol_app

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    apply_thread_budget(budget_for(settings, workers=1))  # gunicorn.conf.py's post_fork re-budgets each worker
    objects = serving_objects(settings)
    objects.status.log_configuration()

    def make_backend(project: str | None, label_config: str | None) -> NERBackend:
        return NERBackend(objects, project, label_config)

    app = create_protocol_app(settings, make_backend)
    app.extensions["status_monitor"] = objects.status  # started per worker by gunicorn.conf.py's post_worker_init
    return app


def _load_app():
    try:
        return create_app()
    except SettingsError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Active-learning NER backend for Label Studio")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", 9090)))
    parser.add_argument("--host", default=os.environ.get("HOST", ""), help="sets HOST (default: see web.listen)")
    parser.add_argument("--model-dir", help="sets MODEL_DIR")
    parser.add_argument("--log-level", help="sets LOG_LEVEL", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--basic-auth-user", help="sets BASIC_AUTH_USER")
    parser.add_argument("--basic-auth-pass", help="sets BASIC_AUTH_PASS")
    parser.add_argument(
        "--allow-open-network", action="store_true", help="sets ALLOW_OPEN_NETWORK: listen beyond loopback without auth"
    )
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    for flag, name in [
        ("model_dir", "MODEL_DIR"),
        ("log_level", "LOG_LEVEL"),
        ("basic_auth_user", "BASIC_AUTH_USER"),
        ("basic_auth_pass", "BASIC_AUTH_PASS"),
    ]:
        if getattr(args, flag):
            os.environ[name] = getattr(args, flag)
    if args.allow_open_network:
        os.environ["ALLOW_OPEN_NETWORK"] = "true"
    listen = _listen_or_exit(args.host)
    app = _load_app()
    if listen.warning:
        logging.getLogger("web.listen").warning(listen.warning)
    app.run(host=listen.host, port=args.port, debug=args.debug, threaded=True)


def _listen_or_exit(requested: str):
    """Where to listen (web.listen), decided before the app loads: a refused address exits 2 with the reason."""
    from web.listen import listen_on

    try:
        return listen_on(requested, Settings.from_env())
    except SettingsError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(2) from None


def __getattr__(name: str):
    """`_wsgi.app` is built on first access (gunicorn's `_wsgi:app`), so importing this module stays cheap."""
    if name == "app":
        global app
        app = _load_app()
        return app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
