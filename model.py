"""The backend: setup / predict / fit / select_samples for Label Studio, on Hugging Face token classifiers (NER,
`<Labels>`) and sequence classifiers (`<Choices>`, see docs/classification.md)."""

from __future__ import annotations

import logging

from infra.dispatch import PROJECT_DELETED, JobDispatcher, webhook_project
from modeling.cache import ModelCache
from modeling.threads import torch_threads
from services.forget import Kept, ProjectNotKept, forget_project
from services.predict import ProjectRankings, predict_tasks
from services.runtime import ServingObjects
from services.select import ScoreCache, SelectRequest, select_samples
from services.status import StatusMonitor
from services.team_view import TeamView
from settings import Settings
from store.local import Store, StoreUnavailable, project_key
from text.label_config import ClassificationConfig, CombinedConfig, NerConfig, ProjectConfig, parse_project_config
from text.tasks import task_text
from web.base import LabelStudioMLBase
from web.errors import BadRequest, Unprocessable

log = logging.getLogger(__name__)


class NERBackend(LabelStudioMLBase):
    """Pre-annotates entities, scores how unsure the model is, and hands training to the job queue.

    One instance per request; it holds the process's objects (`services.runtime.ServingObjects`) as attributes and
    passes each service what it needs.
    """

    def __init__(self, objects: ServingObjects, project_id: str | None = None, label_config: str | None = None):
        super().__init__(project_id, label_config)
        self.settings: Settings = objects.settings
        self.store: Store = objects.store
        self.models: ModelCache = objects.models
        self.scores: ScoreCache = objects.scores
        self.rankings: ProjectRankings = objects.rankings
        self.jobs: JobDispatcher | None = objects.jobs
        self.status: StatusMonitor = objects.status
        self.objects = objects

    def _project(self) -> str | None:
        return None if self.project_id in (None, "") else project_key(self.project_id)

    def _config(self) -> NerConfig | ClassificationConfig | CombinedConfig:
        """What the project's model serves: its NER Labels, its Choices controls, or both (`ProjectConfig.served`)."""
        return self._project_config().served

    def _project_config(self) -> ProjectConfig:
        if self.label_config is None:
            project = self._project()
            stored = self.store.label_config(project) if project else None
            if stored is None:
                raise BadRequest("missing field 'label_config' (the project's label config XML)", field="label_config")
            self.label_config = stored
        return parse_project_config(self.label_config)

    def setup(self) -> str:
        config = self._config()
        project = self._project()
        self._keep_label_config(project, self.label_config)
        self.models.warm(project, config)
        return self.models.version_for(project, config)

    def setup_details(self) -> dict:
        """/setup's answer beside the version: the task type, the controls served and those ignored (and why)."""
        return self._project_config().describe()

    def predict(self, tasks: list, context: dict | None = None, **kwargs) -> list[dict]:
        config = self._config()
        project = self._project() or "0"
        texts = [task_text(t, config.value_key) for t in tasks]
        if tasks and all(t is None for t in texts):
            raise Unprocessable(
                f"no task has a text in data[{config.value_key!r}] (the field the label config's "
                f'<Text value="${config.value_key}"> reads)',
                field=f"tasks[].data.{config.value_key}",
            )
        ranking = self.rankings(project).single_pass()  # /predict stays one deterministic pass
        results = predict_tasks(self.models, ranking, project, config, tasks, context)
        if self._project() is not None:  # what the team view compares API annotations with
            self.objects.served.record(project, tasks, results)
        return results

    def fit(self, event: str, data: dict, **kwargs) -> dict:
        if event == PROJECT_DELETED:  # idempotent: a project already forgotten (or never seen) is a success too
            return {"status": "forgotten", **self.forget(webhook_project(data), missing_ok=True)}
        jobs = self.jobs
        if jobs is None:
            return {"status": "ignored", "reason": "training is not enabled in this process"}
        result = jobs.handle_event(event, data)
        project = data.get("project")
        if isinstance(project, dict) and isinstance(project.get("label_config"), str):
            try:
                parse_project_config(project["label_config"])
                self._keep_label_config(result["project"], project["label_config"])
            except Exception:  # a non-NER project's webhook still counts; its config is just not kept
                log.debug("webhook label config not kept", exc_info=True)
        return result

    def health(self) -> dict:
        jobs = self.jobs
        return {
            "models": self.models.status(),
            "load_errors": dict(self.models.last_error),
            "model_store": self.store.health(),
            "untrained_means": "no fine-tuned model yet: predictions are empty until training runs",
            "training_mode": jobs.mode if jobs is not None else "off",
            "torch_threads": torch_threads(),
            "report": self.status.report(),  # what is configured, what is degraded and why (services.status)
            "controls": self._controls(),
        }

    def _controls(self) -> dict:
        """Per loaded project, the controls served and ignored (from its kept label config), or why unreadable."""
        shown = {}
        for project in self.models.status():
            try:
                xml = self.store.label_config(project)
                shown[project] = parse_project_config(xml).describe() if xml else None
            except Exception as exc:  # a config that no longer parses, or a store that cannot be read
                shown[project] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return shown

    def metrics(self) -> dict:
        jobs = self.jobs
        return {"models": self.models.status(), "training": jobs.status() if jobs is not None else {}}

    def versions(self, project: str | None = None) -> dict:
        """Label Studio's model-version menu reads `versions` as a flat list (it asks without a project); version
        names carry their project (`p3-v7-n120`). `projects` keeps them by project for scripts; `project` narrows
        both to one project."""
        store = self.store
        projects = [project_key(project)] if project is not None else store.projects()
        by_project = {p: [v.name for v in store.versions(p)] for p in projects}
        return {"versions": [name for names in by_project.values() for name in names], "projects": by_project}

    def deploy(self, body: dict) -> dict:
        """Serve a stored version (manual DEPLOY_POLICY, or a rollback); every worker switches on its next request."""
        project = body.get("project_id")
        version = body.get("version")
        if project is None or isinstance(project, bool) or not isinstance(project, (int, str)):
            raise BadRequest("missing field 'project_id' (the Label Studio project id)", field="project_id")
        project = project_key(project)  # a bad id is a 400 naming it, before the version is looked up
        if not isinstance(version, str) or not version:
            raise BadRequest("missing field 'version' (a stored version, see GET /versions)", field="version")
        self.store.deploy(project, version)
        return {"project_id": int(project), "model_version": version}

    def forget(self, project: object, missing_ok: bool = False) -> dict:
        """Delete everything kept for the project (services.forget); ProjectNotKept unless `missing_ok`."""
        jobs = self.jobs
        kept = Kept(
            self.store,
            jobs.triggers if jobs is not None else None,
            jobs.mirror if jobs is not None else None,
            jobs.times if jobs is not None else self.rankings.times,
            self.objects.served,
            (self.models.forget, self.scores.forget, self.rankings.forget, self.objects.team.forget),
        )
        try:
            return forget_project(project, kept)
        except ProjectNotKept:
            if not missing_ok:
                raise
            return {"project_id": int(project_key(project)), "deleted": {}}

    def select_samples(self, request: SelectRequest) -> dict:
        answer = select_samples(
            request,
            settings=self.settings,
            models=self.models,
            scores=self.scores,
            rankings=self.rankings,
            store=self.store,
        )
        self.objects.team.note_selection(answer)  # the team view's pool reads it (it never scores tasks itself)
        return answer

    def team_view(self) -> TeamView:
        return self.objects.team

    def deployed_versions(self) -> dict[str, str | None]:
        """The version each project serves (None: none deployed yet)."""
        return {p: self.store.deployed(p) for p in self.store.projects()}

    def train_status(self, project: str | None) -> dict:
        jobs = self.jobs
        return jobs.status(project) if jobs is not None else {"jobs": {}}

    def _keep_label_config(self, project: str, xml: str) -> None:
        """Keep the project's label config in the store so the worker and /select_samples can use it without a request.

        Best effort: a full or read-only disk, or an unreachable registry, is logged, and serving goes on (the
        request carries the config).
        """
        try:
            self.store.save_label_config(project, xml)
        except (OSError, StoreUnavailable) as exc:
            log.warning("project %s: could not keep the label config on disk: %s", project, exc)
