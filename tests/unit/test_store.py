"""The local store's own layout on disk; the contract both stores keep is tests/integration/test_store_contract.py."""

import json

import pytest

from store.local import InvalidProjectError, LocalStore, project_key


def write(files):
    def fill(directory):
        for name, text in files.items():
            (directory / name).write_text(text)

    return fill


def test_project_key_accepts_label_studio_forms_and_rejects_paths():
    assert project_key("3.1795511008") == "3" and project_key(3) == "3" and project_key("007") == "7"
    for bad in ["../etc", "1/../../x", "", "a", "..", "3;rm"]:
        with pytest.raises(InvalidProjectError):
            project_key(bad)


def test_interrupted_write_leaves_no_version(tmp_path):
    store = LocalStore(tmp_path)

    def crash(directory):
        (directory / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.save(2, 5, crash, {})
    assert store.versions(2) == []
    assert not list((tmp_path / "2" / "versions").iterdir())


def test_folder_without_meta_is_not_a_version(tmp_path):
    (tmp_path / "4" / "versions" / "p4-v1-n3").mkdir(parents=True)
    assert LocalStore(tmp_path).versions(4) == []


def test_deployed_pointer_is_valid_json(tmp_path):
    store = LocalStore(tmp_path)
    name = store.save(5, 1, write({}), {}).name
    store.deploy(5, name)
    assert json.loads((tmp_path / "5" / "deployed.json").read_text())["version"] == name


def test_pruning_never_leaves_a_half_deleted_version_in_sight(tmp_path, monkeypatch):
    """A version is renamed out of sight before it is deleted: a delete cut short (a killed worker) leaves a hidden
    leftover that the next prune removes, never a visible version folder without its meta.json."""
    import shutil

    store = LocalStore(tmp_path, keep=1)
    first = store.save(3, 10, write({"w": "1", "x": "2"}), {"labels": ["PER"]})
    second = store.save(3, 20, write({"w": "3"}), {"labels": ["PER"]})
    real_rmtree = shutil.rmtree

    def killed_midway(path, ignore_errors=False):
        next(p for p in sorted(path.iterdir())).unlink()  # one file gone, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        store.deploy(3, second.name)
    visible = [p for p in (tmp_path / "3" / "versions").iterdir() if not p.name.startswith(".")]
    assert [p.name for p in visible] == [second.name] and all((p / "meta.json").is_file() for p in visible)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    store.prune(3)
    assert sorted(p.name for p in (tmp_path / "3" / "versions").iterdir()) == [second.name]
    assert first.name not in [v.name for v in store.versions(3)]
