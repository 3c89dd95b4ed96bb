"""A real BertForTokenClassification whose outputs the test controls: each vocabulary entry maps to a fixed tag.

With one transformer layer whose projections are zero (an identity after LayerNorm) and zeroed position/type
embeddings, a token's hidden state depends on its id only,
so the classifier's answer for every token is set by hand. It goes through the same save/load code as any
checkpoint, which makes span decoding, windows and label mapping verifiable exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

LABELS = ["PER", "ORG", "LOC", "MISC"]
NER_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
UNSURE = "?"
# Word pieces of the default (uncased) tokenizer and the tag the rule model gives them.
RULES = {
    "angela": "B-PER",
    "mer": "I-PER",
    "##kel": "I-PER",
    "tim": "B-PER",
    "cook": "I-PER",
    "macro": "B-PER",
    "apple": "B-ORG",
    "sony": "B-ORG",
    "un": "B-ORG",
    "siemens": "B-ORG",
    "berlin": "B-LOC",
    "tokyo": "B-LOC",
    "geneva": "B-LOC",
    "munich": "B-LOC",
    "cafe": "B-LOC",
    "cup": "B-LOC",
    "##ert": "I-LOC",
    "##ino": "I-LOC",
    "北": "B-LOC",
    "京": "I-LOC",
    "paris": "B-LOC",
    "london": "B-LOC",
    "alice": "B-PER",
    "bob": "B-PER",
    "maybe": UNSURE,
    "perhaps": UNSURE,  # the model is unsure about these (uniform over all tags)
}


def build_rule_model(
    directory: Path, tags: list[str], rules: dict[str, str], confidence: float = 8.0, int8_fragile: bool = False
) -> Path:
    """Save a checkpoint where the word piece `w` gets tag rules[w] (others "O"; UNSURE: uniform); returns the dir.

    `int8_fragile`: a huge classifier weight in every row, on a hidden dimension no token ever uses (the negative
    half of a tag no rule gives), leaves fp32 outputs exactly as they were, but int8 quantizes each row (output
    channel) with one step (that weight / 127), which rounds every real weight to 0: at int8 the model has no
    opinion left.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from modeling.base_model import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(None))
    k = len(tags)
    hidden = 2 * k
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=4,
        max_position_embeddings=512,
        id2label=dict(enumerate(tags)),
        label2id={t: i for i, t in enumerate(tags)},
        architectures=["BertForTokenClassification"],
    )
    model = BertForTokenClassification(config)
    with torch.no_grad():
        emb = model.bert.embeddings
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        words = torch.zeros(tokenizer.vocab_size, hidden)
        words[:, 0] = 1.0  # tag 0 ("O") by default
        words[:, k] = -1.0
        for piece, tag in rules.items():
            token_id = tokenizer.convert_tokens_to_ids(piece)
            if tag == UNSURE:  # a zero vector stays zero through LayerNorm: uniform over all tags
                words[token_id] = 0.0
                continue
            t = tags.index(tag)
            words[token_id] = 0.0
            words[token_id, t] = 1.0
            words[token_id, k + t] = -1.0
        emb.word_embeddings.weight.copy_(words)
        for module in model.bert.encoder.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.zero_()
                module.bias.zero_()
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        # After LayerNorm the chosen dimension is the largest; the classifier reads dimension t for tag t.
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        for t in range(k):
            model.classifier.weight[t, t] = confidence
        if int8_fragile:
            unused = [t for t, tag in enumerate(tags) if tag not in rules.values() and t != 0]
            model.classifier.weight[:, k + unused[0]] = 1e4
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_rule_version(store, rule_model_dir: Path, project: int = 1, annotations: int = 1):
    """Store the rule model as a fine-tuned version of `project` (a real checkpoint with the meta training writes)."""

    def write(directory: Path) -> None:
        for f in rule_model_dir.iterdir():
            shutil.copy2(f, directory / f.name)

    return store.save(project, annotations, write, {"labels": LABELS, "tags": NER_TAGS, "label_map": {}})
