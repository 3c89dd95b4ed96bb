"""A registry version's tags carry what a listing needs without downloading the version (store.mlflow_registry)."""

from store.local import version_number
from store.mlflow_registry import meta_from_tags, version_tags


def test_tags_round_trip_annotations_labels_and_scalar_metrics():
    meta = {
        "annotations": 120,
        "labels": ["PER", "Straße"],
        "per_type": {"PER": {}},
        "metrics": {"entity_f1": 0.75, "support": 40, "per_type": {"PER": 0.5}, "ok": True},
    }
    tags = version_tags(meta)
    assert all(isinstance(v, str) for v in tags.values())
    back = meta_from_tags(tags)
    assert back == {"annotations": 120, "labels": ["PER", "Straße"], "metrics": {"entity_f1": 0.75, "support": 40.0}}


def test_amendments_after_the_upload_override_the_tags():
    tags = {**version_tags({"annotations": 3, "labels": []}), "meta.deployed": "false", "meta.reason": '"newer job"'}
    assert meta_from_tags(tags)["deployed"] is False and meta_from_tags(tags)["reason"] == "newer job"


def test_version_numbers_are_read_only_from_version_names():
    assert version_number("p3-v12-n40") == 12
    assert [version_number(bad) for bad in ("p3-v12", "base-x", "", None, 7)] == [None] * 5
