from dataclasses import fields

import pytest

from settings import SETTINGS, Settings, SettingsError


def test_defaults_need_no_environment():
    s = Settings.from_env({})
    assert s.max_sequence_length == 128 and s.start_training_each_n_updates == 10
    assert s.mlflow_tracking_uri.startswith("sqlite:///") and s.mlflow_tracking_uri.endswith("models/mlflow.db")
    assert (s.training_start, s.final_fit) == ("warm", "all")
    assert s.model_store == "local"  # the embedded default: no MLflow server needed


def test_label_studio_url_is_accepted_as_host():
    assert Settings.from_env({"LABEL_STUDIO_URL": "http://ls:8080/"}).label_studio_host == "http://ls:8080"
    both = {"LABEL_STUDIO_URL": "http://a", "LABEL_STUDIO_HOST": "http://b"}
    assert Settings.from_env(both).label_studio_host == "http://b"


@pytest.mark.parametrize(
    "name, value",
    [
        ("MAX_SEQUENCE_LENGTH", "abc"),
        ("MAX_SEQUENCE_LENGTH", "4"),
        ("LEARNING_RATE", "fast"),
        ("UNCERTAINTY_THRESHOLD", "1.5"),
        ("DEPLOY_POLICY", "sometimes"),
        ("SELECTION_DIVERSITY", "maybe"),
        ("BATCH_SIZE", "0"),
        ("UNCERTAINTY_STRATEGY", "vibes"),
        ("LOG_LEVEL", "LOUD"),
        ("START_TRAINING_EACH_N_UPDATES", "-1"),
        ("TRAINING_START", "lukewarm"),
        ("FINAL_FIT", "validation"),
        ("MODEL_STORE", "s3"),
        ("REGISTRY_POLL_INTERVAL", "0"),
    ],
)
def test_invalid_values_fail_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_basic_auth_needs_both_halves():
    with pytest.raises(SettingsError, match="BASIC_AUTH"):
        Settings.from_env({"BASIC_AUTH_USER": "u"})


def test_repr_hides_secrets():
    s = Settings.from_env({"LABEL_STUDIO_API_KEY": "key-123", "BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "pw-456"})
    assert "key-123" not in repr(s) and "pw-456" not in repr(s)


def test_the_settings_choices_are_the_registries_they_name():
    """settings imports nothing of ours, so it spells the choices out; they must stay the code's own."""
    import settings
    import uncertainty
    from modeling import parity

    assert settings.PRECISIONS == parity.PRECISIONS and settings.AUTO == parity.AUTO
    assert settings.REDUCTIONS == uncertainty.REDUCTIONS
    assert settings.STRATEGIES == tuple(uncertainty.STRATEGIES)


# --- the declarations: one per variable, and consistent with themselves ------------------------------------------


def test_every_variable_is_declared_once_with_a_one_line_doc():
    from settings import DECLARATIONS, SETTINGS, Settings

    names = [name for declaration in DECLARATIONS for name in declaration.names]
    assert len(names) == len(set(names)), "a variable is declared twice"
    assert [declaration.field for declaration in SETTINGS] == [f.name for f in fields(Settings)]
    for declaration in DECLARATIONS:
        assert declaration.doc and "\n" not in declaration.doc, declaration.env
        assert bool(declaration.read_by) == declaration.deploy_only, declaration.env


@pytest.mark.parametrize("declaration", SETTINGS, ids=lambda declaration: declaration.env)
def test_each_default_is_accepted_and_is_the_field_default(declaration):
    assert declaration.read({}) == declaration.default == getattr(Settings(), declaration.field)
    if declaration.default not in (None, ""):
        written = str(declaration.default).lower() if declaration.kind is bool else str(declaration.default)
        assert declaration.read({declaration.env: written}) == declaration.default
    if declaration.container_default is not None:
        assert declaration.read({declaration.env: declaration.container_default}) == declaration.container_default


def _invalid(declaration) -> list[str]:
    if declaration.kind is bool:
        return ["maybe"]
    if declaration.kind in (int, float):
        values = ["abc"]
        if declaration.low is not None:
            values.append(str(declaration.low - 1))
        if declaration.high is not None:
            values.append(str(declaration.high + 1))
        return values
    return ["not-a-choice"] if declaration.choices else []


@pytest.mark.parametrize(
    "declaration, value",
    [(declaration, value) for declaration in SETTINGS for value in _invalid(declaration)],
    ids=lambda item: getattr(item, "env", item),
)
def test_every_checked_setting_refuses_a_bad_value_naming_its_variable(declaration, value):
    with pytest.raises(SettingsError, match=f"^{declaration.env}="):
        Settings.from_env({declaration.env: value})


def test_the_special_cases():
    assert Settings.from_env({"LOG_LEVEL": " debug "}).log_level == "DEBUG"
    assert Settings.from_env({"UNCERTAINTY_THRESHOLD": "None"}).uncertainty_threshold is None
    assert Settings.from_env({"UNCERTAINTY_THRESHOLD": "0.5"}).uncertainty_threshold == 0.5
    assert Settings.from_env({"MODEL_DIR": "/srv/m"}).mlflow_tracking_uri == "sqlite:////srv/m/mlflow.db"
    spaced = Settings.from_env({"BASIC_AUTH_USER": " u ", "BASIC_AUTH_PASS": " p ", "WEBHOOK_SECRET": " s "})
    assert (spaced.basic_auth_user, spaced.basic_auth_pass, spaced.webhook_secret) == (" u ", " p ", " s ")
    assert Settings.from_env({"LABEL_STUDIO_API_KEY": " k "}).label_studio_api_key == "k"
    assert Settings().replace(batch_size=4).batch_size == 4
    assert "webhook_secret='***'" in repr(spaced) and "basic_auth_user=' u '" in repr(spaced)


def test_the_table_script_prints_both_tables():
    from settings import table

    text = table.markdown()
    assert text.startswith(table.BEGIN) and text.rstrip().endswith(table.END)
    assert "| `NUM_TRAIN_EPOCHS` | 10 | integer, 1 to 1000 |" in text
    assert "| `PORT` | 9090 |" in text and "| `LABEL_STUDIO_HOST` (or `LABEL_STUDIO_URL`) | empty |" in text
