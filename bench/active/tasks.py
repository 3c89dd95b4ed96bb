"""What a simulation measures for each task type: the rounds.csv column its curves and AULC use, the axes they are
plotted against, and the words the summary uses for them. A run's plan.json names its task type (`task`); a plan
without one is NER, as every run before classification was."""

from __future__ import annotations

from dataclasses import dataclass, field

NER, CHOICES = "ner", "choices"


@dataclass(frozen=True)
class TaskKind:
    name: str
    metric: str  # the rounds.csv column of the learning curves, the AULC and the full-pool line
    short: str  # its name in table headers
    title: str  # its name at the start of a plot's title
    plot_label: str  # the plots' y axis
    metric_note: str  # how it is computed, for the summary's notes
    axes: dict[str, str]  # axis name -> rounds.csv column of the labelled amount
    axis_text: dict[str, str]  # axis name -> its short name in table headers
    unit: str  # what a labelled task holds, in the notes
    also: tuple[str, ...] = field(default=())  # other per-round figures reported beside the metric


KINDS = {
    NER: TaskKind(
        NER,
        "entity_f1",
        "F1",
        "Entity F1",
        "entity F1 of the served spans",
        "F1 = entity F1 of the spans the service serves (exact type and boundaries, micro average) on the fixed "
        "test set, mean over seeds.",  # summary.md's wording since the first runs
        {
            "sentences": "labelled_sentences",
            "tokens": "labelled_tokens",
            "entities": "labelled_entities",
            "seconds": "estimated_seconds",  # bench.active.report.priced
        },
        {"sentences": "task", "tokens": "token", "entities": "entity", "seconds": "second"},
        "sentences",
    ),
    CHOICES: TaskKind(
        CHOICES,
        "macro_f1",
        "macro-F1",
        "Macro-F1",
        "macro-F1 of the served choices",
        "macro-F1 = F1 per class averaged over the classes (scikit-learn; every class weighs alike, so a rare one "
        "counts) of the choice the service serves (`training.classification.score_classifier`) on the fixed "
        "evaluation set, mean over seeds. It is the metric of the curves, the AULC and the full-pool line; accuracy "
        "is reported beside it.",
        {"sentences": "labelled_sentences", "tokens": "labelled_tokens"},
        {"sentences": "task", "tokens": "token"},
        "texts",
        ("accuracy",),
    ),
}


def task_of(plan: dict | None) -> TaskKind:
    return KINDS[(plan or {}).get("task", NER)]
