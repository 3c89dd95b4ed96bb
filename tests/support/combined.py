"""A project whose label config holds a `<Labels>` and a `<Choices>` on one text (served by one version): its
config, annotated tasks whose texts both tiny models read (`rule_model`'s entity pieces, `choice_model`'s cue
words), and a combined version put in a store by hand from those two checkpoints, laid out as a combined job
saves one (the NER model at the top, the classifier in `choices/`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.choice_model import CLASSES
from tests.support.rule_model import LABELS, NER_TAGS

COMBINED_CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/><Label value="LOC"/><Label value="MISC"/>
</Labels>
<Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
</Choices></View>"""

ENTITIES = (("angela merkel", "PER"), ("berlin", "LOC"))


CUES = {"positive": "good", "negative": "bad", "neutral": "okay"}  # `choice_model.CUES`, reversed


def combined_task(task_id: int, sentiment: str = "positive", spans: bool = True, choice: bool = True) -> dict:
    """An annotated task: "<cue> angela merkel in berlin <id>", its two entities and its sentiment (either left out
    on request: an annotation with spans and no choice, or a choice and no spans)."""
    text = f"{CUES[sentiment]} angela merkel in berlin {task_id}"
    result = []
    if spans:
        for words, label in ENTITIES:
            start = text.index(words)
            result.append(
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "labels",
                    "value": {"start": start, "end": start + len(words), "text": words, "labels": [label]},
                }
            )
    if choice:
        result.append(
            {
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [sentiment]},
            }
        )
    return {"id": task_id, "data": {"text": text}, "annotations": [{"id": 1000 + task_id, "result": result}]}


def combined_tasks(n: int, start_id: int = 1) -> list[dict]:
    """`n` annotated tasks, positive, negative and neutral in turn."""
    return [combined_task(start_id + i, list(CUES)[i % 3]) for i in range(n)]


def save_combined_version(store, project: str, ner_dir: Path, choice_dir: Path, annotations: int = 1) -> str:
    """A combined version of the rule model (NER) and a choice model (the classifier); returns its name."""

    def write(directory: Path) -> None:
        shutil.copytree(ner_dir, directory, dirs_exist_ok=True)
        shutil.copytree(choice_dir, Path(directory) / "choices")

    meta = {
        "task_type": "ner+choices",
        "labels": list(LABELS),
        "tags": list(NER_TAGS),
        "label_map": {label: label for label in LABELS},
        "metrics": {},
        "choices": {"task_type": "choices", "labels": list(CLASSES), "tags": list(CLASSES), "thresholds": {}},
    }
    return store.save(project, annotations, write, meta).name
