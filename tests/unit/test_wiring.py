"""How a process's objects are put together: a job's context (`services.train_job.job_context`, the one wiring both
job runners use) and the per-project rankings /predict, /select_samples and the refresh share."""

from __future__ import annotations

from infra.annotation_mirror import AnnotationMirror
from infra.job_state import LocalJobState
from infra.lead_times import AnnotationTimes
from modeling.cache import ModelCache
from services.predict import ProjectRankings
from services.train_job import JobContext, job_context
from settings import Settings
from store.local import LocalStore


def parts(tmp_path, **env):
    settings = Settings.from_env({"MODEL_DIR": str(tmp_path), **env})
    store = LocalStore(tmp_path)
    return settings, store, AnnotationTimes(store), AnnotationMirror(store)


def test_a_job_context_of_the_worker_builds_its_own_model_cache_and_rankings(tmp_path):
    settings, store, times, mirror = parts(tmp_path, REFRESH_MAX_TASKS="7")
    state, beats, enqueued = LocalJobState(), LocalJobState(), []
    context = job_context(settings, store, state, lambda p, j: enqueued.append((p, j)), mirror, times, beats=beats)
    assert isinstance(context, JobContext)
    assert (context.settings, context.store, context.triggers, context.mirror, context.beats) == (
        settings,
        store,
        state,
        mirror,
        beats,
    )
    context.enqueue("3", "job-1")
    assert enqueued == [("3", "job-1")]
    assert isinstance(context.refresh.models, ModelCache) and context.refresh.max_tasks == 7
    ranking = context.refresh.ranking_for("3")
    assert ranking.key == ranking.single_pass().key  # the refresh scores like /predict: one deterministic pass


def test_the_in_process_worker_shares_the_serving_models_and_rankings(tmp_path):
    settings, store, times, mirror = parts(tmp_path)
    models, calls = ModelCache(settings, store), []

    class Recording(ProjectRankings):
        def __call__(self, project, **overrides):
            calls.append(project)
            return super().__call__(project, **overrides)

    context = job_context(
        settings,
        store,
        LocalJobState(),
        lambda p, j: None,
        mirror,
        times,
        models=models,
        rankings=Recording(settings, times),
    )
    assert context.refresh.models is models and context.beats is None
    context.refresh.ranking_for("5")
    assert calls == ["5"]


def test_project_rankings_read_the_lead_times_at_most_once_a_minute(tmp_path):
    settings, store, _, _ = parts(tmp_path, SELECTION_COST_AWARE="true")

    class Counting(AnnotationTimes):
        reads = 0

        def observations(self, project):
            Counting.reads += 1
            return [3, 5, 8], [6.0, 10.0, 16.0]

    rankings = ProjectRankings(settings, Counting(store))
    first, second = rankings("4"), rankings("4")
    assert Counting.reads == 1 and first.cost is not None and first.key == second.key
    assert rankings(None).cost is not None and Counting.reads == 1  # no project: token counts, no lead times read
