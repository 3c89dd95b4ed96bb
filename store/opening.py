"""Opens the model store MODEL_STORE names: the local directory (default) or MLflow's Model Registry."""

from __future__ import annotations

import os

from store.local import LocalStore, Store
from store.mlflow_registry import MlflowStore

# A serving process asks the registry in the background, so one failed call must not retry for minutes (MLflow's
# default: 7 retries, 120 s timeout); both stay overridable through MLflow's own variables.
SERVING_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def open_store(settings, serving: bool = False) -> Store:
    """The store of `settings`; `serving` (web processes) resolves the deployed version on a timer, never per
    request."""
    if settings.model_store == "mlflow":
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in service logs
        if serving:
            for name, value in SERVING_HTTP.items():
                os.environ.setdefault(name, value)
        return MlflowStore(
            settings.mlflow_tracking_uri,
            settings.model_dir,
            keep=settings.keep_versions,
            poll_interval=settings.registry_poll_interval if serving else None,
        )
    return LocalStore(settings.model_dir, keep=settings.keep_versions)
