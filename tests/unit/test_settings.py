import pytest

from settings import Settings, SettingsError


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
