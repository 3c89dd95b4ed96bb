"""The one configuration object, read from environment variables.

Each variable is declared once, on its `Settings` field: name, type (the annotation), default, accepted values and
one line of documentation. Adding a setting is one `setting(...)` line here; then
`python -m settings.table --write docs/configuration.md` regenerates the tables of every variable, and
tests/integration/test_deploy_files.py says what docker-compose.yml and .env.example lack. Variables only the
deployment files read are declared in `settings.declarations.DEPLOY_ONLY`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from settings.declarations import DEPLOY_ONLY, SETTING, Setting, SettingsError, as_is, setting, upper, url

__all__ = [
    "AUTO",
    "DECLARATIONS",
    "DEFAULT_SERVING_PRECISION",
    "DEPLOY_ONLY",
    "LOG_LEVELS",
    "PRECISIONS",
    "REDUCTIONS",
    "SETTINGS",
    "STRATEGIES",
    "Setting",
    "Settings",
    "SettingsError",
]

# The choices of the settings that name code of lower layers; the settings import nothing of ours, and
# tests/unit/test_settings.py checks these against the registries they name (modeling.parity, uncertainty).
AUTO = "auto"
PRECISIONS = ("fp32", "bf16", "int8")
REDUCTIONS = ("mean", "max", "sum", "top_k")
STRATEGIES = (
    "boundary_entropy",
    "entropy",
    "least_confidence",
    "margin",
    "mnlp",
    "random",
    "span_confidence",
    "bald",
    "mc_entropy",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The precision /predict serves at when a version passes the parity gate: the one place to change the default.
# auto (bf16 where the device has it natively, else fp32): on a MiniLM fine-tuned on CoNLL bf16 served 1.6-1.9x
# fp32's tasks/s within the gate (0.0003 entity F1 lost), while int8 (2x) lost 1.2 points, beyond the gate's 0.5
# (bench/SPEED.md): int8 stays an opt-in, gated.
DEFAULT_SERVING_PRECISION = AUTO


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads; `Settings.from_env()` reads them, `Settings()` is all defaults."""

    label_studio_host: str = setting(
        "LABEL_STUDIO_HOST",
        "",
        "Label Studio's URL, used to fetch annotations and tasks",
        aliases=("LABEL_STUDIO_URL",),
        clean=url,
    )
    label_studio_api_key: str = setting(
        "LABEL_STUDIO_API_KEY", "", "legacy token or personal access token of a Label Studio user", secret=True
    )
    baseline_model_name: str = setting(
        "BASELINE_MODEL_NAME",
        "",
        "base checkpoint: a Hugging Face id or a local directory",
        shown="bundled all-MiniLM-L6-v2",
    )
    finetuned_model_name: str = setting(
        "FINETUNED_MODEL_NAME", "", "an already fine-tuned NER checkpoint to start from instead of the base model"
    )
    model_dir: str = setting(
        "MODEL_DIR",
        "./models",
        "model store: `MODEL_DIR/<project>/versions/<version>/`, the deployed pointer, MLflow's DB (with "
        "`MODEL_STORE=mlflow`: this host's cache of registry versions)",
        container_default="/data/models",
    )
    model_store: str = setting(
        "MODEL_STORE",
        "local",
        "`local`: versions in `MODEL_DIR` (one host); `mlflow`: MLflow's Model Registry at `MLFLOW_TRACKING_URI`, "
        "shared by web and worker hosts (see *Several hosts*)",
        choices=("local", "mlflow"),
        container_default="mlflow",
    )
    registry_poll_interval: float = setting(
        "REGISTRY_POLL_INTERVAL",
        5.0,
        "with `MODEL_STORE=mlflow`: seconds between a web process's looks at the registry's `deployed` alias (in the "
        "background, never per request)",
        low=0.1,
        high=3600,
    )
    keep_versions: int = setting(
        "KEEP_VERSIONS", 5, "fine-tuned versions kept per project (the deployed one is always kept)", low=1
    )
    model_cache_size: int = setting(
        "MODEL_CACHE_SIZE", 4, "projects whose models stay loaded in memory per web process", low=1
    )
    max_sequence_length: int = setting(
        "MAX_SEQUENCE_LENGTH",
        128,
        "tokens per model window (longer texts are windowed, never truncated)",
        low=16,
        high=8192,
    )
    inference_batch_size: int = setting(
        "INFERENCE_BATCH_SIZE", 32, "windows per forward pass during prediction", low=1, high=4096
    )
    start_training_each_n_updates: int = setting(
        "START_TRAINING_EACH_N_UPDATES",
        10,
        "retrain after this many new or updated annotations (0: only on Start Training)",
        low=0,
    )
    learning_rate: float = setting("LEARNING_RATE", 1e-4, "fine-tuning learning rate", low=1e-8, high=1, shown="1e-4")
    num_train_epochs: int = setting(
        "NUM_TRAIN_EPOCHS", 10, "epochs per training job (raised to reach `MIN_TRAIN_STEPS`)", low=1, high=1000
    )
    min_train_steps: int = setting(
        "MIN_TRAIN_STEPS",
        150,
        "minimum optimisation steps per job (a new head needs many steps on few labels)",
        low=0,
    )
    weight_decay: float = setting("WEIGHT_DECAY", 0.01, "AdamW weight decay", low=0, high=1)
    batch_size: int = setting("BATCH_SIZE", 8, "training batch size", low=1, high=4096)
    validation_split: float = setting(
        "VALIDATION_SPLIT",
        0.2,
        "share of annotated tasks held out to compare new and current model",
        low=0,
        high=0.9,
    )
    deploy_policy: str = setting(
        "DEPLOY_POLICY",
        "if_better",
        "`always`, `if_better` (the current model is kept only on paired evidence that the new one is worse on "
        "the validation split) or `manual`",
        choices=("always", "if_better", "manual"),
    )
    training_start: str = setting(
        "TRAINING_START",
        "warm",
        "`warm`: a job continues from the deployed model (from the base checkpoint before anything is deployed); "
        "`scratch`: every job trains from the base checkpoint",
        choices=("scratch", "warm"),
    )
    final_fit: str = setting(
        "FINAL_FIT",
        "all",
        "`all`: a version that is deployed is trained again on every labelled task, validation ones included; "
        "`train`: it keeps only the training side",
        choices=("all", "train"),
    )
    epoch_selection: str = setting(
        "EPOCH_SELECTION",
        "last",
        "`last`: serve the last epoch; `best`: keep the best epoch on half of the held-out tasks and decide on the "
        "other half",
        choices=("last", "best"),
    )
    uncertainty_strategy: str = setting(
        "UNCERTAINTY_STRATEGY",
        "boundary_entropy",
        "how tasks are ranked for labelling; `bald` and `mc_entropy` use MC dropout (/predict scores with `entropy` "
        "then)",
        choices=STRATEGIES,
    )
    boundary_weight: float = setting(
        "BOUNDARY_WEIGHT",
        2.0,
        "extra weight of words at likely entity boundaries (1.0 turns it off)",
        low=1,
        high=100,
    )
    uncertainty_reduction: str = setting(
        "UNCERTAINTY_REDUCTION",
        "sum",
        "word scores to a task's: `sum` (per task), `mean` (per word), `max`, `top_k`",
        choices=REDUCTIONS,
    )
    uncertainty_top_k: int = setting(
        "UNCERTAINTY_TOP_K", 3, "words averaged by the `top_k` reduction", low=1, high=10_000
    )
    selection_cost_aware: bool = setting(
        "SELECTION_COST_AWARE",
        False,
        "rank by uncertainty per second of annotation (cost fitted from Label Studio's `lead_time`)",
    )
    mc_dropout_samples: int = setting(
        "MC_DROPOUT_SAMPLES",
        10,
        "MC dropout passes per text for the `bald` and `mc_entropy` strategies (selection only)",
        low=2,
        high=100,
    )
    mc_dropout_layers: int = setting(
        "MC_DROPOUT_LAYERS",
        2,
        "last encoder layers (and the head) re-run with dropout for those passes; the rest runs once",
        low=1,
        high=48,
    )
    uncertainty_threshold: float | None = setting(
        "UNCERTAINTY_THRESHOLD",
        None,
        "if set, `/select_samples` keeps only tasks whose score is below this",
        low=0,
        high=1,
        shown="empty (off)",
    )
    samples_per_iteration: int = setting(
        "SAMPLES_PER_ITERATION", 500, "default batch size of `/select_samples`", low=1, high=100_000
    )
    selection_diversity: bool = setting(
        "SELECTION_DIVERSITY",
        False,
        "spread each selected batch over the embedding space (k-means of the most uncertain tasks)",
    )
    mlflow_tracking_uri: str = setting(
        "MLFLOW_TRACKING_URI",
        "",
        "where training runs are logged, and with `MODEL_STORE=mlflow` the registry (an `http://` tracking server "
        "for several hosts)",
        shown="`sqlite:///<MODEL_DIR>/mlflow.db`",  # from_env fills it in
        container_default="http://mlflow:5000",
    )
    redis_url: str = setting(
        "REDIS_URL",
        "",
        "e.g. `redis://localhost:6379/0`: use Redis/RQ for training jobs; empty: in-process worker",
        container_default="redis://:${REDIS_PASSWORD}@redis:6379/0",
    )
    job_heartbeat_timeout: float = setting(
        "JOB_HEARTBEAT_TIMEOUT",
        60.0,
        "seconds without a heartbeat after which a running job counts as lost (worker killed)",
        low=5,
        high=86400,
    )
    status_probe_interval: float = setting(
        "STATUS_PROBE_INTERVAL",
        30.0,
        "seconds between the background checks of Redis, the RQ workers and Label Studio that `/health`'s `report` "
        "reports (`/health` never waits for them)",
        low=1,
        high=86400,
    )
    job_queued_timeout: float = setting(
        "JOB_QUEUED_TIMEOUT",
        300.0,
        "seconds a queued job may wait without its queue holding it (RQ lost it, or took it and never started it) "
        "before it counts as lost; a job RQ still holds in the queue waits as long as it takes",
        low=1,
        high=86400,
    )
    training_threads: int = setting(
        "TRAINING_THREADS",
        0,
        "torch threads of an RQ training job (0: half the cores), which also runs at a lower CPU priority, so serving "
        "on the same machine stays fast",
        low=0,
        high=1024,
    )
    serving_precision: str = setting(
        "SERVING_PRECISION",
        DEFAULT_SERVING_PRECISION,
        "precision `/predict` and selection serve at: `auto` (`bf16` where the CPU or GPU computes it natively, else "
        "`fp32`), `fp32`, `bf16` or `int8` (dynamic quantization of the Linear layers; about 2x fp32's speed on CPU, "
        "but it failed the gate on a CoNLL model). A version is served below fp32 only when its training job's "
        "parity gate passed (see *Serving precision*); base models and versions without figures are served fp32. "
        "Training and evaluation are always fp32",
        choices=(*PRECISIONS, AUTO),
    )
    serving_precision_force: bool = setting(
        "SERVING_PRECISION_FORCE",
        False,
        "true: serve `SERVING_PRECISION` for every version, base models and versions that failed the gate included "
        "(no gate)",
    )
    precision_parity_max_f1_drop: float = setting(
        "PRECISION_PARITY_MAX_F1_DROP",
        0.005,
        "the gate's bound: the reduced model's F1 on the held-out tasks (entity F1 for NER, macro-F1 for a "
        "classifier) may be at most this much below fp32's",
        low=0,
        high=1,
    )
    precision_parity_min_agreement: float = setting(
        "PRECISION_PARITY_MIN_AGREEMENT",
        0.98,
        "the gate's floor: share of what is served that both precisions agree on exactly (Jaccard over (task, "
        "start, end, label) for spans, over (task, control, class) for chosen classes)",
        low=0,
        high=1,
    )
    torch_threads: int = setting(
        "TORCH_THREADS",
        0,
        "torch (and OpenMP) threads per web worker; 0: the cores this process may use divided by gunicorn's workers, "
        "at least 1",
        low=0,
        high=1024,
    )
    predict_batch_window_ms: float = setting(
        "PREDICT_BATCH_WINDOW_MS",
        2.0,
        "concurrent small `/predict` requests (each at most `INFERENCE_BATCH_SIZE` tasks) arriving within this many "
        "milliseconds share one forward pass, each answered with its own predictions; 0: off",
        low=0,
        high=1000,
    )
    label_studio_retries: int = setting(
        "LABEL_STUDIO_RETRIES",
        3,
        "retries of a training job's Label Studio calls, with exponential backoff",
        low=0,
        high=20,
    )
    refresh_max_tasks: int = setting(
        "REFRESH_MAX_TASKS",
        1000,
        "unlabelled tasks re-predicted and imported into Label Studio after a deploy (0: all); predictions of other "
        "versions are deleted, so Label Studio holds at most this many of ours plus those made when a task is opened",
        low=0,
        high=10_000_000,
    )
    label_studio_retry_delay: float = setting(
        "LABEL_STUDIO_RETRY_DELAY", 5.0, "seconds before the first retry (doubling each time)", low=0, high=3600
    )
    basic_auth_user: str = setting(
        "BASIC_AUTH_USER",
        "",
        "require HTTP basic auth on every route (set both `BASIC_AUTH_USER` and `BASIC_AUTH_PASS`, or neither); "
        "without them `POST /deploy` is refused (403) to any client but loopback",
        clean=as_is,
    )
    basic_auth_pass: str = setting("BASIC_AUTH_PASS", "", "the password of `BASIC_AUTH_USER`", clean=as_is, secret=True)
    webhook_secret: str = setting(
        "WEBHOOK_SECRET",
        "",
        "lets `/webhook?secret=...` (or header `X-Webhook-Secret`) in without basic auth",
        clean=as_is,
        secret=True,
    )
    allow_open_network: bool = setting(
        "ALLOW_OPEN_NETWORK",
        False,
        "true: listen beyond loopback without basic auth (a warning is logged); without it and without "
        "`BASIC_AUTH_USER`, the server listens on 127.0.0.1 and refuses a `HOST` (or `--bind`) beyond it",
    )
    max_request_bytes: int = setting("MAX_REQUEST_BYTES", 50 * 1024 * 1024, "larger request bodies get 413", low=1024)
    log_level: str = setting(
        "LOG_LEVEL",
        "INFO",
        "the log level, in any case (`debug` is `DEBUG`)",
        choices=LOG_LEVELS,
        clean=upper,
    )
    hf_hub_offline: bool = setting(
        "HF_HUB_OFFLINE",
        True,
        "never contact the Hugging Face Hub; set 0 so a hub id in `BASELINE_MODEL_NAME` can download",
        shown="1",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable; the first invalid one raises SettingsError naming it."""
        env = os.environ if env is None else env
        if bool(env.get("BASIC_AUTH_USER", "")) != bool(env.get("BASIC_AUTH_PASS", "")):
            raise SettingsError("BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together")
        values = {declared.field: declared.read(env) for declared in SETTINGS}
        if not values["mlflow_tracking_uri"]:  # the default: a database beside the model store
            database = os.path.abspath(os.path.join(values["model_dir"], "mlflow.db"))
            values["mlflow_tracking_uri"] = f"sqlite:///{database}"
        return cls(**values)

    def replace(self, **changes) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    def __repr__(self) -> str:  # never print secrets
        hidden = {declared.field for declared in SETTINGS if declared.secret}
        parts = [
            f"{f.name}={'***' if f.name in hidden and getattr(self, f.name) else getattr(self, f.name)!r}"
            for f in fields(self)
        ]
        return f"Settings({', '.join(parts)})"


# A field's annotation is its setting's kind (a float | None is a float that may be off).
_KINDS = {"str": str, "int": int, "float": float, "bool": bool, "float | None": float}

# The service's settings in Settings' field order, each completed with its field and kind; then every declared variable.
SETTINGS: tuple[Setting, ...] = tuple(
    dataclasses.replace(f.metadata[SETTING], field=f.name, kind=_KINDS[f.type]) for f in fields(Settings)
)
DECLARATIONS: tuple[Setting, ...] = SETTINGS + DEPLOY_ONLY
