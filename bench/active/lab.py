"""The model operations a simulation needs, each one a call into the service's own code: training
(`training.trainer`), inference (`modeling.inference.Predictor`), scoring (`training.evaluation`) and selection
(`uncertainty`), so the benchmark measures what ships rather than a copy of it."""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

import uncertainty
from bench.active.arms import Arm
from bench.conll import token_count
from modeling.base_model import LoadedModel
from modeling.inference import Predictor
from services.predict import ranking_from_settings
from text.label_config import NerConfig
from training.annotations import Example
from training.dataset import split_examples
from training.evaluation import evaluate_model, predicted_word_tags
from training.trainer import adapt_head, fine_tune, fresh_start


class ModelLab:
    """What both labs do alike, through the subclass's `predictor`: copy a model, embed texts, pick a batch."""

    @staticmethod
    def clone(loaded: LoadedModel) -> LoadedModel:
        return LoadedModel(
            copy.deepcopy(loaded.model), loaded.tokenizer, list(loaded.tags), dict(loaded.label_map), loaded.trained
        )

    def embeddings(self, loaded: LoadedModel, examples: Sequence) -> np.ndarray:
        outputs = self.predictor(loaded).predict([e.text for e in examples], embeddings=True)
        return np.stack([o.embedding for o in outputs])

    @staticmethod
    def pick(arm: Arm, values: np.ndarray, outputs: Sequence, batch: int, seed: int) -> list[int]:
        """The service's batch selection over ranking `values` (spread by the embeddings when the arm says so)."""
        embeddings = np.stack([o.embedding for o in outputs]) if arm.diversity else None
        return uncertainty.select(values, embeddings, batch, diversity=arm.diversity, seed=seed)


class Lab(ModelLab):
    metric = "entity_f1"
    metric_text = "F1"

    def __init__(self, labels: Sequence[str], settings):
        self.labels = tuple(labels)
        self.settings = settings
        self.config = NerConfig("label", "text", "text", self.labels)

    def fresh(self) -> LoadedModel:
        loaded = fresh_start(self.settings, self.config)
        adapt_head(loaded, self.config.labels)
        return loaded

    def train(
        self,
        loaded: LoadedModel,
        examples: Sequence[Example],
        seed: int,
        settings=None,
        validation: Sequence[Example] = (),
        choose_on: Sequence[Example] = (),
        stop_after: int | None = None,
    ):
        """`validation` is scored after every epoch; `choose_on` is too, and the best epoch's weights are kept."""
        result = fine_tune(
            loaded,
            list(examples),
            list(choose_on or validation),
            settings or self.settings,
            seed=seed,
            keep_best=bool(choose_on),
            stop_after=stop_after,
        )
        loaded.trained = True
        return result

    @staticmethod
    def split(examples: Sequence[Example], fraction: float):
        """The service's training / held-out split of a project's labelled texts (`training.dataset`)."""
        return split_examples(examples, fraction)

    def predictor(self, loaded: LoadedModel) -> Predictor:
        s = self.settings
        return Predictor(loaded.model, loaded.tokenizer, s.max_sequence_length, s.inference_batch_size)

    def evaluate(self, loaded: LoadedModel, test: Sequence[Example]) -> dict:
        return evaluate_model(self.predictor(loaded), loaded.tags, list(test), loaded.label_map)

    @staticmethod
    def row_metrics(metrics: dict) -> dict:
        return {k: metrics[k] for k in ("entity_f1", "entity_precision", "entity_recall", "seqeval_mode")}

    @staticmethod
    def sizes(examples: Sequence[Example]) -> dict:
        return {
            "labelled_tokens": sum(token_count(e) for e in examples),
            "labelled_entities": sum(len(e.spans) for e in examples),
        }

    def predict(self, loaded: LoadedModel, examples: Sequence[Example], arm: Arm | None = None):
        """Per-text outputs (what selection needs for `arm`) and the decoded word tags (for agreement)."""
        texts = [e.text for e in examples]
        sampled = arm is not None and uncertainty.get_strategy(arm.strategy).needs_samples
        s = self.settings
        outputs = (
            self.predictor(loaded).predict(
                texts,
                embeddings=arm is not None and arm.diversity,
                mc_samples=s.mc_dropout_samples if sampled else 0,
                mc_layers=s.mc_dropout_layers,
            )
            if texts
            else []
        )
        return outputs, [predicted_word_tags(o.probs, loaded.tags, loaded.label_map, o.words) for o in outputs]

    def select(self, arm: Arm, tags: list[str], outputs: Sequence, batch: int, seed: int) -> list[int]:
        """Positions in `outputs` to annotate next, by the service's ranking and selection."""
        ranking = ranking_from_settings(
            self.settings, strategy=arm.strategy, reduction=arm.reduction, top_k=arm.top_k, cost_aware=False
        )
        inputs = [o.samples for o in outputs] if ranking.needs_samples else [o.probs for o in outputs]
        values = ranking.values(ranking.uncertainties(inputs, tags, seed=seed), [len(o.probs) for o in outputs])
        return self.pick(arm, values, outputs, batch, seed)
