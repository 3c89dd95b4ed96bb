"""The one configuration object, read from environment variables (documented in the README's table)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

# The choices of the settings that name code of lower layers; the settings import nothing of ours, and
# tests/unit/test_settings.py checks these against the registries they name (modeling.parity, uncertainty).
AUTO = "auto"
PRECISIONS = ("fp32", "bf16", "int8")
REDUCTIONS = ("mean", "max", "sum", "top_k")
STRATEGIES = ("boundary_entropy", "entropy", "least_confidence", "margin", "mnlp", "random", "bald", "mc_entropy")

# The precision /predict serves at when a version passes the parity gate: the one place to change the default.
# auto (bf16 where the device has it natively, else fp32): on a MiniLM fine-tuned on CoNLL bf16 served 1.6-1.9x
# fp32's tasks/s within the gate (0.0003 entity F1 lost), while int8 (2x) lost 1.2 points, beyond the gate's 0.5
# (bench/SPEED.md): int8 stays an opt-in, gated.
DEFAULT_SERVING_PRECISION = AUTO


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingsError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not (low <= value <= high):
        raise SettingsError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def _optional_float(env: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    """Empty or "none" means off."""
    raw = env.get(name, "").strip()
    if not raw or raw.lower() == "none":
        return None
    return _float(env, name, 0.0, low, high)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip() or default
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class Settings:
    label_studio_host: str = ""
    label_studio_api_key: str = ""
    baseline_model_name: str = ""
    finetuned_model_name: str = ""
    model_dir: str = "./models"
    model_store: str = "local"
    registry_poll_interval: float = 5.0
    keep_versions: int = 5
    model_cache_size: int = 4
    max_sequence_length: int = 128
    inference_batch_size: int = 32
    start_training_each_n_updates: int = 10
    learning_rate: float = 1e-4
    num_train_epochs: int = 10
    min_train_steps: int = 150
    weight_decay: float = 0.01
    batch_size: int = 8
    validation_split: float = 0.2
    deploy_policy: str = "if_better"
    training_start: str = "warm"
    final_fit: str = "all"
    epoch_selection: str = "last"
    uncertainty_strategy: str = "boundary_entropy"
    boundary_weight: float = 2.0
    uncertainty_reduction: str = "sum"
    uncertainty_top_k: int = 3
    selection_cost_aware: bool = False
    mc_dropout_samples: int = 10
    mc_dropout_layers: int = 2
    uncertainty_threshold: float | None = None
    samples_per_iteration: int = 500
    selection_diversity: bool = False
    mlflow_tracking_uri: str = ""
    redis_url: str = ""
    job_heartbeat_timeout: float = 60.0
    job_queued_timeout: float = 300.0
    training_threads: int = 0
    serving_precision: str = DEFAULT_SERVING_PRECISION
    serving_precision_force: bool = False
    precision_parity_max_f1_drop: float = 0.005
    precision_parity_min_agreement: float = 0.98
    torch_threads: int = 0
    predict_batch_window_ms: float = 2.0
    label_studio_retries: int = 3
    refresh_max_tasks: int = 1000
    label_studio_retry_delay: float = 5.0
    basic_auth_user: str = ""
    basic_auth_pass: str = ""
    webhook_secret: str = ""
    max_request_bytes: int = 50 * 1024 * 1024
    log_level: str = "INFO"
    hf_hub_offline: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable; the first invalid one raises SettingsError naming it."""
        env = os.environ if env is None else env
        model_dir = env.get("MODEL_DIR", "").strip() or "./models"
        user, password = env.get("BASIC_AUTH_USER", ""), env.get("BASIC_AUTH_PASS", "")
        if bool(user) != bool(password):
            raise SettingsError("BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together")
        strategy = env.get("UNCERTAINTY_STRATEGY", "").strip() or "boundary_entropy"
        if strategy not in STRATEGIES:
            raise SettingsError(f"UNCERTAINTY_STRATEGY={strategy!r} is not one of {', '.join(STRATEGIES)}")
        log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"LOG_LEVEL={log_level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return cls(
            label_studio_host=(env.get("LABEL_STUDIO_HOST", "") or env.get("LABEL_STUDIO_URL", "")).strip().rstrip("/"),
            label_studio_api_key=env.get("LABEL_STUDIO_API_KEY", "").strip(),
            baseline_model_name=env.get("BASELINE_MODEL_NAME", "").strip(),
            finetuned_model_name=env.get("FINETUNED_MODEL_NAME", "").strip(),
            model_dir=model_dir,
            model_store=_choice(env, "MODEL_STORE", "local", ("local", "mlflow")),
            registry_poll_interval=_float(env, "REGISTRY_POLL_INTERVAL", 5.0, 0.1, 3600.0),
            keep_versions=_int(env, "KEEP_VERSIONS", 5, 1),
            model_cache_size=_int(env, "MODEL_CACHE_SIZE", 4, 1),
            max_sequence_length=_int(env, "MAX_SEQUENCE_LENGTH", 128, 16, 8192),
            inference_batch_size=_int(env, "INFERENCE_BATCH_SIZE", 32, 1, 4096),
            start_training_each_n_updates=_int(env, "START_TRAINING_EACH_N_UPDATES", 10, 0),
            learning_rate=_float(env, "LEARNING_RATE", 1e-4, 1e-8, 1.0),
            num_train_epochs=_int(env, "NUM_TRAIN_EPOCHS", 10, 1, 1000),
            min_train_steps=_int(env, "MIN_TRAIN_STEPS", 150, 0),
            weight_decay=_float(env, "WEIGHT_DECAY", 0.01, 0.0, 1.0),
            batch_size=_int(env, "BATCH_SIZE", 8, 1, 4096),
            validation_split=_float(env, "VALIDATION_SPLIT", 0.2, 0.0, 0.9),
            deploy_policy=_choice(env, "DEPLOY_POLICY", "if_better", ("always", "if_better", "manual")),
            training_start=_choice(env, "TRAINING_START", "warm", ("scratch", "warm")),
            final_fit=_choice(env, "FINAL_FIT", "all", ("all", "train")),
            epoch_selection=_choice(env, "EPOCH_SELECTION", "last", ("last", "best")),
            uncertainty_strategy=strategy,
            boundary_weight=_float(env, "BOUNDARY_WEIGHT", 2.0, 1.0, 100.0),
            uncertainty_reduction=_choice(env, "UNCERTAINTY_REDUCTION", "sum", REDUCTIONS),
            uncertainty_top_k=_int(env, "UNCERTAINTY_TOP_K", 3, 1, 10_000),
            selection_cost_aware=_bool(env, "SELECTION_COST_AWARE", False),
            mc_dropout_samples=_int(env, "MC_DROPOUT_SAMPLES", 10, 2, 100),
            mc_dropout_layers=_int(env, "MC_DROPOUT_LAYERS", 2, 1, 48),
            uncertainty_threshold=_optional_float(env, "UNCERTAINTY_THRESHOLD", 0.0, 1.0),
            samples_per_iteration=_int(env, "SAMPLES_PER_ITERATION", 500, 1, 100_000),
            selection_diversity=_bool(env, "SELECTION_DIVERSITY", False),
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", "").strip()
            or f"sqlite:///{os.path.abspath(os.path.join(model_dir, 'mlflow.db'))}",
            redis_url=env.get("REDIS_URL", "").strip(),
            job_heartbeat_timeout=_float(env, "JOB_HEARTBEAT_TIMEOUT", 60.0, 5.0, 86400.0),
            job_queued_timeout=_float(env, "JOB_QUEUED_TIMEOUT", 300.0, 1.0, 86400.0),
            training_threads=_int(env, "TRAINING_THREADS", 0, 0, 1024),
            serving_precision=_choice(env, "SERVING_PRECISION", DEFAULT_SERVING_PRECISION, (*PRECISIONS, AUTO)),
            serving_precision_force=_bool(env, "SERVING_PRECISION_FORCE", False),
            precision_parity_max_f1_drop=_float(env, "PRECISION_PARITY_MAX_F1_DROP", 0.005, 0.0, 1.0),
            precision_parity_min_agreement=_float(env, "PRECISION_PARITY_MIN_AGREEMENT", 0.98, 0.0, 1.0),
            torch_threads=_int(env, "TORCH_THREADS", 0, 0, 1024),
            predict_batch_window_ms=_float(env, "PREDICT_BATCH_WINDOW_MS", 2.0, 0.0, 1000.0),
            label_studio_retries=_int(env, "LABEL_STUDIO_RETRIES", 3, 0, 20),
            refresh_max_tasks=_int(env, "REFRESH_MAX_TASKS", 1000, 0, 10_000_000),
            label_studio_retry_delay=_float(env, "LABEL_STUDIO_RETRY_DELAY", 5.0, 0.0, 3600.0),
            basic_auth_user=user,
            basic_auth_pass=password,
            webhook_secret=env.get("WEBHOOK_SECRET", ""),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 50 * 1024 * 1024, 1024),
            log_level=log_level,
            hf_hub_offline=_bool(env, "HF_HUB_OFFLINE", True),
        )

    def replace(self, **changes) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    def __repr__(self) -> str:  # never print secrets
        hidden = {"label_studio_api_key", "basic_auth_pass", "webhook_secret"}
        parts = [
            f"{f.name}={'***' if f.name in hidden and getattr(self, f.name) else getattr(self, f.name)!r}"
            for f in fields(self)
        ]
        return f"Settings({', '.join(parts)})"
