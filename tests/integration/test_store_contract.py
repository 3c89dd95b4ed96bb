"""The model store contract (`store.local.Store`), pinned once and run against both backends: the local directory
(MODEL_STORE=local) and MLflow's Model Registry on a real tracking server with PostgreSQL (MODEL_STORE=mlflow).

"Another host" is a second store: for the local backend a second instance on the same directory (another process
of the host), for the registry one with a cache directory of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from store.local import LocalStore, UnknownVersionError
from store.mlflow_registry import MlflowStore


def write(files):
    def fill(directory):
        for name, text in files.items():
            (directory / name).write_text(text)

    return fill


@pytest.fixture(params=["local", "mlflow"])
def stores(request, tmp_path):
    """make(keep, host) -> a store; hosts share the registry (or, locally, the directory)."""
    if request.param == "local":
        return lambda keep=5, host="a": LocalStore(tmp_path / "models", keep=keep)
    server = request.getfixturevalue("mlflow_server")
    return lambda keep=5, host="a": MlflowStore(server.url, tmp_path / f"cache-{host}", keep=keep)


def test_versions_are_numbered_in_order_and_carry_their_meta(stores, fresh_project):
    store = stores()
    a = store.save(fresh_project, 10, write({"w": "1"}), {"labels": ["PER"], "metrics": {"entity_f1": 0.5}})
    b = store.save(fresh_project, 25, write({"w": "2"}), {"labels": ["PER", "ORG"]})
    p = fresh_project
    assert (a.name, b.name) == (f"p{p}-v1-n10", f"p{p}-v2-n25")
    listed = stores(host="b").versions(p)
    assert [v.name for v in listed] == [a.name, b.name]
    assert listed[0].meta["annotations"] == 10 and listed[0].meta["metrics"]["entity_f1"] == 0.5
    assert listed[1].meta["labels"] == ["PER", "ORG"]
    assert p in stores(host="b").projects()


def test_another_host_gets_a_version_with_its_files_and_meta(stores, fresh_project):
    saved = stores().save(fresh_project, 7, write({"w": "weights", "config.json": "{}"}), {"labels": ["LOC"]})
    info = stores(host="b").get(fresh_project, saved.name)
    assert (info.path / "w").read_text() == "weights" and (info.path / "config.json").is_file()
    assert info.meta["labels"] == ["LOC"] and info.meta["version"] == saved.name and info.meta["annotations"] == 7


def test_another_host_gets_a_versions_sub_folders_as_a_combined_version_keeps_its_classifier(stores, fresh_project):
    def fill(directory):
        (directory / "config.json").write_text("ner")
        (directory / "choices").mkdir()
        (directory / "choices" / "config.json").write_text("classifier")

    saved = stores().save(fresh_project, 3, fill, {"task_type": "ner+choices", "choices": {"labels": ["a"]}})
    info = stores(host="b").get(fresh_project, saved.name)
    assert (info.path / "config.json").read_text() == "ner"
    assert (info.path / "choices" / "config.json").read_text() == "classifier"
    assert info.meta["task_type"] == "ner+choices" and info.meta["choices"] == {"labels": ["a"]}


def test_deploy_moves_the_pointer_for_every_host_and_prune_keeps_the_deployed(stores, fresh_project):
    store, other = stores(keep=2), stores(keep=2, host="b")
    names = [store.save(fresh_project, n, write({}), {}).name for n in (1, 2, 3)]
    assert store.deployed(fresh_project) is None
    store.deploy(fresh_project, names[0])
    assert other.deployed(fresh_project) == names[0]
    fourth = store.save(fresh_project, 4, write({}), {}).name
    other.deploy(fresh_project, names[0])  # pruning leaves the deployed one and the last two
    assert [v.name for v in store.versions(fresh_project)] == [names[0], names[2], fourth]
    store.prune(fresh_project)
    on_disk = {d.name for d in (store.project_dir(fresh_project) / "versions").iterdir() if not d.name.startswith(".")}
    assert on_disk <= {names[0], names[2], fourth}, "this host's copies are pruned too"
    other.deploy(fresh_project, fourth)  # a rollforward from the other host
    assert store.deployed(fresh_project) == fourth


def test_a_write_that_fails_leaves_no_version(stores, fresh_project):
    store = stores()

    def crash(directory):
        (directory / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.save(fresh_project, 5, crash, {})
    assert store.versions(fresh_project) == [] and stores(host="b").versions(fresh_project) == []
    versions_dir = store.project_dir(fresh_project) / "versions"
    assert not versions_dir.is_dir() or not list(versions_dir.iterdir())


def test_unknown_or_malformed_versions_are_refused(stores, fresh_project):
    store = stores()
    store.save(fresh_project, 3, write({}), {})
    p = fresh_project
    for bad in [f"p{p}-v9-n1", f"p{p}-v1-n4", "../../x", ""]:  # v1 exists, but not with 4 annotations
        with pytest.raises(UnknownVersionError):
            store.get(p, bad)
        with pytest.raises(UnknownVersionError):
            store.deploy(p, bad)


def test_amended_meta_keeps_the_other_fields(stores, fresh_project):
    store = stores()
    info = store.save(fresh_project, 3, lambda directory: None, {"deployed": True, "labels": ["PER"]})
    store.amend_meta(fresh_project, info.name, deployed=False, reason="a newer job started")
    meta = stores(host="b").get(fresh_project, info.name).meta
    assert meta["deployed"] is False and meta["reason"] == "a newer job started" and meta["labels"] == ["PER"]
    assert meta["version"] == info.name


def test_label_config_is_kept_for_every_host(stores, fresh_project):
    store = stores()
    assert store.label_config(fresh_project) is None
    store.save_label_config(fresh_project, "<View>1</View>")
    store.save_label_config(fresh_project, "<View>2</View>")
    assert stores(host="b").label_config(fresh_project) == "<View>2</View>"


def test_deleting_a_project_removes_its_versions_pointer_and_config_for_every_host(stores, fresh_project):
    store, other_host = stores(), stores(host="b")
    kept = str(int(fresh_project) + 5000)
    names = [store.save(fresh_project, n, write({"w": str(n)}), {"labels": ["PER"]}).name for n in (1, 2)]
    store.deploy(fresh_project, names[0])
    store.save_label_config(fresh_project, "<View>gone</View>")
    other_host.get(fresh_project, names[0])  # the other host holds a copy too
    store.save(kept, 4, write({}), {})
    store.save_label_config(kept, "<View>kept</View>")

    deleted = store.delete_project(fresh_project)

    assert deleted["versions"] == names and deleted["deployed"] == names[0]
    for host in (store, stores(host="c")):
        assert host.versions(fresh_project) == [] and host.deployed(fresh_project) is None
        assert host.label_config(fresh_project) is None and fresh_project not in host.projects()
        assert [v.name for v in host.versions(kept)] == [f"p{kept}-v1-n4"]
        assert host.label_config(kept) == "<View>kept</View>" and kept in host.projects()
    assert not store.project_dir(fresh_project).exists()
    assert store.delete_project(fresh_project) == {}


def test_registry_version_cut_short_mid_upload_is_never_listed_nor_deployable(
    mlflow_server, tmp_path, fresh_project, monkeypatch
):
    """A worker that dies while uploading leaves a run with some of the files and no model version."""
    store = MlflowStore(mlflow_server.url, tmp_path / "cache", keep=5)
    good = store.save(fresh_project, 5, write({"w": "1"}), {})
    store.deploy(fresh_project, good.name)
    real_upload = store.client.log_artifact

    def upload_one_file_then_die(run_id, local_dir, artifact_path=None):
        real_upload(run_id, str(sorted(Path(local_dir).iterdir())[0]), artifact_path)
        raise KeyboardInterrupt

    monkeypatch.setattr(store.client, "log_artifacts", upload_one_file_then_die)
    with pytest.raises(KeyboardInterrupt):
        store.save(fresh_project, 9, write({"a": "1", "b": "2"}), {})
    other = MlflowStore(mlflow_server.url, tmp_path / "other", keep=5)
    assert [v.name for v in other.versions(fresh_project)] == [good.name]
    assert other.deployed(fresh_project) == good.name
    with pytest.raises(UnknownVersionError):
        other.get(fresh_project, f"p{fresh_project}-v2-n9")
