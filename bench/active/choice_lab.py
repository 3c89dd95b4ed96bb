"""The model operations of a classification simulation (`<Choices>`), each a call into the service's own code:
the base classifier (`modeling.classifier.load_base_classifier`), fine-tuning with Hugging Face's `Trainer`
(`training.classification.fine_tune_classifier`), the predictor /predict builds (`classifier_predictor`), the
served decisions' metrics (`score_classifier`: macro-F1 and accuracy), the uncertainty of /select_samples
(`uncertainty.choices.choices_uncertainties`, the strategy's classification measure) and its batch selection
(`uncertainty.select`). Same interface as `bench.active.lab.Lab`, so `bench.active.loop` runs either.

Each round fits on every labelled text. The service's classification job holds `VALIDATION_SPLIT` of them out for
its deploy decision; a simulation has no deploy decision, and both arms of a pair fit the same way.
"""

from __future__ import annotations

from typing import Sequence

from bench.active.arms import Arm
from bench.active.lab import ModelLab
from bench.choices import choice_config
from modeling.base_model import LoadedModel
from modeling.classifier import load_base_classifier
from services.predict import ranking_from_settings
from training.classification import classifier_predictor, fine_tune_classifier, score_classifier, stratified_split
from training.classification_data import ChoiceExample
from training.trainer import base_model_name
from uncertainty.choices import CLASS_MEASURE, choices_uncertainties


def measure_of(strategy: str) -> str:
    """The classification measure a strategy name ranks by (`uncertainty.choices.CLASS_MEASURE`)."""
    return CLASS_MEASURE.get(strategy, strategy)


class ChoiceLab(ModelLab):
    metric = "macro_f1"
    metric_text = "macro-F1"

    def __init__(self, labels: Sequence[str], settings):
        self.labels = tuple(labels)
        self.settings = settings
        self.config = choice_config(self.labels)
        self.segments = [(a, b, control.multiple) for control, a, b in self.config.segments()]

    def fresh(self) -> LoadedModel:
        """The base checkpoint with the project's classes, as a job's scratch candidate starts."""
        return load_base_classifier(base_model_name(self.settings), list(self.labels), self.config.predicted_values)

    def train(
        self,
        loaded: LoadedModel,
        examples: Sequence[ChoiceExample],
        seed: int,
        settings=None,
        validation: Sequence[ChoiceExample] = (),
        choose_on: Sequence[ChoiceExample] = (),
        stop_after: int | None = None,
    ):
        """`validation` is not used: the classifier's training records its loss per epoch, not test scores.
        `choose_on`: keep the epoch with the best macro-F1 on these texts."""
        result = fine_tune_classifier(
            loaded,
            list(examples),
            self.segments,
            settings or self.settings,
            seed=seed,
            choose_on=list(choose_on),
            config=self.config,
            stop_after=stop_after,
        )
        loaded.trained = True
        return result

    @staticmethod
    def split(examples: Sequence[ChoiceExample], fraction: float):
        """The service's stratified training / held-out split of a project's labelled texts."""
        return stratified_split(examples, fraction)

    def predictor(self, loaded: LoadedModel):
        return classifier_predictor(loaded, self.config, self.settings)

    def evaluate(self, loaded: LoadedModel, test: Sequence[ChoiceExample]) -> dict:
        return score_classifier(self.predictor(loaded), list(test), self.config)

    @staticmethod
    def row_metrics(metrics: dict) -> dict:
        return {"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"], "seqeval_mode": ""}

    @staticmethod
    def sizes(examples: Sequence[ChoiceExample]) -> dict:
        """What an annotator read: texts (the row's count) and their whitespace-separated words; no entities."""
        return {"labelled_tokens": sum(len(e.text.split()) for e in examples), "labelled_entities": None}

    def predict(self, loaded: LoadedModel, examples: Sequence[ChoiceExample], arm: Arm | None = None):
        """Per-text outputs (class probabilities, embeddings when `arm` spreads its batches) and the served choices
        (class names, for the agreement between rounds)."""
        texts = [e.text for e in examples]
        predictor = self.predictor(loaded)
        outputs = predictor.predict(texts, embeddings=arm is not None and arm.diversity) if texts else []
        decided = [
            [self.labels[i] for picked in predictor.decide(o.probs) for i in picked] if o.probs.size else []
            for o in outputs
        ]
        return outputs, decided

    def select(self, arm: Arm, tags: list[str], outputs: Sequence, batch: int, seed: int) -> list[int]:
        """Positions in `outputs` to annotate next, as /select_samples picks for a classification project: U of each
        text by the strategy's measure, the ranking's values, then the service's batch selection."""
        ranking = ranking_from_settings(
            self.settings, strategy=arm.strategy, reduction=arm.reduction, top_k=arm.top_k, cost_aware=False
        )
        found = choices_uncertainties([o.probs for o in outputs], self.segments, ranking.strategy, seed=seed)
        values = ranking.values(found, [len(o.words) for o in outputs])
        return self.pick(arm, values, outputs, batch, seed)
