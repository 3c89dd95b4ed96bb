"""Every /predict answer the tests see is checked with label-studio-sdk's own validator, against the label config
the request was made with: a region Label Studio would reject fails the test that produced it."""

from __future__ import annotations

import functools
import json

from flask.testing import FlaskClient
from label_studio_sdk.label_interface import LabelInterface

from store.local import LocalStore, project_key


@functools.lru_cache(maxsize=64)
def _interface(label_config: str) -> LabelInterface:
    return LabelInterface(label_config)


def check_predictions(label_config: str, results: list[dict]) -> None:
    """Assert that Label Studio would accept each prediction (`LabelInterface.validate_prediction`)."""
    interface = _interface(label_config)
    for i, prediction in enumerate(results):
        errors = interface.validate_prediction(prediction, return_errors=True)
        assert not errors, f"prediction {i} is not valid for its label config: {errors}\n{prediction}"


class ValidatingClient(FlaskClient):
    """A Flask test client that checks every successful /predict answer (`check_predictions`); the label config is
    the request's, or the one the project stored at /setup."""

    model_dir: str = ""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path")
        if path == "/predict" and response.status_code == 200:
            body = kwargs.get("json")
            if body is None and kwargs.get("data"):
                body = json.loads(kwargs["data"])
            results = (response.get_json(silent=True) or {}).get("results") or []  # HEAD: no body
            if results:
                check_predictions(self._label_config(body or {}), results)
        return response

    def _label_config(self, body: dict) -> str:
        if isinstance(body.get("label_config"), str):
            return body["label_config"]
        stored = LocalStore(self.model_dir).label_config(project_key(body.get("project")))
        assert stored is not None, "a /predict answered 200 without a label config to check it against"
        return stored
