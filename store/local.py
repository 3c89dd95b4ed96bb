"""The model store interface, and its local backend: fine-tuned versions per project on disk, and which one is deployed.

`Store` is what the web (modeling.cache, /versions, /deploy) and the training job call; `LocalStore` keeps versions in a
local directory (MODEL_STORE=local, the embedded default) and `store.mlflow_registry.MlflowStore` in MLflow's
Model Registry, shared by every host (MODEL_STORE=mlflow); `store.opening.open_store` picks one. Local layout:
MODEL_DIR/<project>/versions/<version>/ (Hugging Face files + meta.json) and
MODEL_DIR/<project>/deployed.json. Versions are written to a temporary folder and renamed into place, and the
deployed pointer is replaced atomically, so a reader never sees a half-written model. Both the web process and
the training worker use this one API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

_PROJECT = re.compile(r"^[0-9]{1,18}$")
_VERSION = re.compile(r"^p(?P<project>[0-9]+)-v(?P<n>[0-9]+)-n(?P<annotations>[0-9]+)$")


class InvalidProjectError(ValueError):
    """A project id that is not a plain number (it would name a path outside the store)."""


class UnknownVersionError(LookupError):
    """A version that the store does not hold for the project."""


class StoreUnavailable(RuntimeError):
    """The shared store (the MLflow tracking server) cannot be reached; serving goes on from the local cache."""


def project_key(project: object) -> str:
    """The store key of a project: Label Studio's id, also from its "<id>.<created>" form sent to /setup."""
    text = str(project).strip()
    head = text.split(".", 1)[0]
    if not _PROJECT.match(head):
        raise InvalidProjectError(f"invalid project id {text[:40]!r}: expected a number such as 3 or '3.1700000000'")
    return str(int(head))


def version_name(project: str, n: int, annotations: int) -> str:
    return f"p{project}-v{n}-n{annotations}"


def version_number(name: object) -> int | None:
    """The n of "p<project>-v<n>-n<annotations>" (a registry store's version number), None for any other string."""
    m = _VERSION.match(name) if isinstance(name, str) else None
    return int(m["n"]) if m else None


@dataclass(frozen=True)
class VersionInfo:
    """A stored version and its meta.json (labels, label_map, metrics, annotation count...)."""

    name: str
    path: Path  # where the version's files are (or will be, once a remote store's version is downloaded) on this host
    meta: dict
    run_id: str | None = None  # the MLflow run that holds the version's files (MODEL_STORE=mlflow)


class Store(Protocol):
    """What both flows ask of a model store; every backend keeps this contract
    (tests/integration/test_store_contract)."""

    def project_dir(self, project: object) -> Path:
        """This host's directory for the project (files that stay on one host, and a remote store's cache)."""

    def versions(self, project: object) -> list[VersionInfo]:
        """Complete versions, oldest first (meta holds at least labels, annotations and metrics)."""

    def get(self, project: object, version: str) -> VersionInfo:
        """The version with its files on this host and its full meta; UnknownVersionError when there is none."""

    def save(self, project: object, annotations: int, write: Callable[[Path], None], meta: dict) -> VersionInfo:
        """A new version from the files `write(directory)` puts in a temporary folder; visible only once complete."""

    def amend_meta(self, project: object, version: str, **fields) -> None: ...

    def deployed(self, project: object) -> str | None:
        """The deployed version's name (its files on this host), or None while the base model serves."""

    def deploy(self, project: object, version: str) -> None: ...

    def prune(self, project: object) -> None: ...

    def save_label_config(self, project: object, xml: str) -> None: ...

    def label_config(self, project: object) -> str | None: ...

    def projects(self) -> list[str]: ...

    def delete_project(self, project: object) -> dict:
        """Delete every version, the deployed pointer and the label config kept for the project (a forgotten
        project); returns what was deleted ({} when nothing was kept)."""

    def health(self) -> dict:
        """What /health says about the store (for a remote one: whether it is reachable)."""

    def watch(self, on_change: Callable[[str], None]) -> None:
        """Have `on_change(project)` called when this process learns, outside any request, that a project's deployed
        version moved (a serving registry's timer). A store whose pointer is read on every call never calls it."""


class LocalStore:
    """Saves, lists, deploys and prunes fine-tuned versions under one root directory."""

    def __init__(self, root: str | os.PathLike, keep: int = 5):
        self.root = Path(root)
        self.keep = keep

    def project_dir(self, project: object) -> Path:
        return self.root / project_key(project)

    def versions(self, project: object) -> list[VersionInfo]:
        """Complete versions, oldest first."""
        base = self.project_dir(project) / "versions"
        found = []
        if base.is_dir():
            for entry in base.iterdir():
                m = _VERSION.match(entry.name)
                meta_file = entry / "meta.json"
                if m and meta_file.is_file():
                    found.append((int(m["n"]), VersionInfo(entry.name, entry, json.loads(meta_file.read_text()))))
        return [v for _, v in sorted(found, key=lambda x: x[0])]

    def get(self, project: object, version: str) -> VersionInfo:
        if not _VERSION.match(version or ""):
            raise UnknownVersionError(f"unknown model version {str(version)[:60]!r}")
        for v in self.versions(project):
            if v.name == version:
                return v
        raise UnknownVersionError(f"project {project_key(project)} has no model version {version!r}")

    def next_version(self, project: object, annotations: int) -> str:
        key = project_key(project)
        numbers = [int(_VERSION.match(v.name)["n"]) for v in self.versions(project)]
        return version_name(key, max(numbers, default=0) + 1, annotations)

    def save(self, project: object, annotations: int, write, meta: dict) -> VersionInfo:
        """Create a new version: `write(tmp_dir)` fills a temporary folder, which is then renamed into place."""
        base = self.project_dir(project) / "versions"
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
        try:
            write(tmp)
            for _ in range(100):
                name = self.next_version(project, annotations)
                full_meta = {**meta, "version": name, "annotations": annotations, "created_at": time.time()}
                (tmp / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True))
                _fsync_dir(tmp)
                try:
                    os.rename(tmp, base / name)
                except OSError:  # another writer took the name: try the next one
                    continue
                return VersionInfo(name, base / name, full_meta)
            raise RuntimeError("could not allocate a version name")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def amend_meta(self, project: object, version: str, **fields) -> None:
        """Change fields of a saved version's meta.json (a deploy refused after the save), replaced atomically."""
        info = self.get(project, version)
        write_atomically(info.path / "meta.json", json.dumps({**info.meta, **fields}, indent=2, sort_keys=True))

    def deployed(self, project: object) -> str | None:
        """The deployed version's name, or None while the project serves its base model."""
        pointer = self.project_dir(project) / "deployed.json"
        try:
            return json.loads(pointer.read_text())["version"]
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def watch(self, on_change: Callable[[str], None]) -> None:
        """Nothing to watch: the pointer is a file on this host, read by every call of `deployed`."""

    def deploy(self, project: object, version: str) -> None:
        self.get(project, version)
        pointer = self.project_dir(project) / "deployed.json"
        write_atomically(pointer, json.dumps({"version": version, "deployed_at": time.time()}))
        self.prune(project)

    def save_label_config(self, project: object, xml: str) -> None:
        """Keep the project's label config, so the worker and /select_samples can use it without a request."""
        target = self.project_dir(project) / "label_config.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and target.read_text() == xml):
            write_atomically(target, xml)

    def label_config(self, project: object) -> str | None:
        target = self.project_dir(project) / "label_config.xml"
        return target.read_text() if target.is_file() else None

    def prune(self, project: object) -> None:
        """Keep the last `keep` versions and the deployed one; remove leftovers of interrupted writes."""
        deployed = self.deployed(project)
        versions = self.versions(project)
        base = self.project_dir(project) / "versions"
        for v in versions[: max(0, len(versions) - self.keep)]:
            if v.name != deployed:
                # renamed out of sight first (atomic), then deleted: a process killed mid-delete leaves a hidden
                # leftover for the next prune, never a half-deleted version folder
                doomed = base / f".deleting-{v.name}-{os.getpid()}"
                try:
                    os.rename(v.path, doomed)
                except OSError:
                    continue
                shutil.rmtree(doomed, ignore_errors=True)
        for leftover in base.glob(".deleting-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in base.glob(".incoming-*"):
            if time.time() - leftover.stat().st_mtime > 3600:
                shutil.rmtree(leftover, ignore_errors=True)

    def projects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if _PROJECT.match(p.name)), key=int)

    def health(self) -> dict:
        return {"kind": "local"}

    def install(self, project: object, name: str, fill: Callable[[Path], None]) -> VersionInfo:
        """Place a version whose name is already known (a remote store's download): `fill(tmp_dir)` writes its files
        and meta.json into a temporary folder that is then renamed into place; a version already there is kept."""
        base = self.project_dir(project) / "versions"
        base.mkdir(parents=True, exist_ok=True)
        if (base / name / "meta.json").is_file():
            return self.get(project, name)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
        try:
            fill(tmp)
            _fsync_dir(tmp)
            try:
                os.rename(tmp, base / name)
            except OSError:  # another process of this host installed it first
                pass
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.get(project, name)

    def delete_project(self, project: object) -> dict:
        """Renamed out of sight first (atomic), then deleted: no reader sees half a project, and a process killed
        mid-delete leaves only a hidden leftover (`projects()` lists numbers only) that the next delete removes."""
        directory = self.project_dir(project)
        deleted: dict = {}
        if directory.is_dir():
            deleted = {"versions": [v.name for v in self.versions(project)], "deployed": self.deployed(project)}
            deleted["label_config"] = self.label_config(project) is not None
            doomed = self.root / f".deleting-{directory.name}-{uuid.uuid4().hex}"
            try:
                os.rename(directory, doomed)
            except FileNotFoundError:  # another process deleted it first
                return {}
            deleted["files"] = sum(1 for f in doomed.rglob("*") if f.is_file())
        for leftover in self.root.glob(f".deleting-{directory.name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return deleted

    def forget_deployed(self, project: object) -> None:
        (self.project_dir(project) / "deployed.json").unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old content or the new, never a partial file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
