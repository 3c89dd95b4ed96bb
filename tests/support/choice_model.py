"""A real BertForSequenceClassification whose answers the test controls: cue words vote for a class.

Built like `tests.support.rule_model` (one layer, position and type embeddings zeroed), but here the one
attention layer averages: its query and key projections are zero (every token attends to every token alike), its
value and output projections are the identity. The [CLS] state is then the (normalised) mean of the text's token
embeddings, where a cue word piece has +1 on its class's dimension (-1 on a mirror one, so LayerNorm keeps it).
Every other piece, special tokens included, shares one neutral embedding on two dimensions of its own. The pooler
and classifier read class c from dimension c, so a text with cues of one class is classified confidently as that
class, and a text with no cue gets uniform logits (the model is unsure). It goes through the same save/load code
as any checkpoint, and it stays trainable: fine-tuning it on cue-labelled texts learns a new head in a few steps.

`int8_fragile` adds one hidden dimension no piece ever uses (it stays 0 through every layer) and a huge classifier
weight on it in every row: fp32 answers exactly as before, but int8 quantizes each row with one step (that weight /
127), which rounds the real weights to 0, so at int8 every text gets uniform logits and the first class.
"""

from __future__ import annotations

from pathlib import Path

CLASSES = ["positive", "negative", "neutral"]
CUES = {"good": "positive", "great": "positive", "bad": "negative", "awful": "negative", "okay": "neutral"}


def build_choice_model(
    directory: Path,
    classes: list[str] = CLASSES,
    cues: dict[str, str] = CUES,
    confidence: float = 8.0,
    int8_fragile: bool = False,
) -> Path:
    """Save the checkpoint (with the bundled encoder's tokenizer) in `directory`; returns it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from modeling.base_model import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(None))
    k = len(classes)
    hidden = 2 * k + 2 + int(int8_fragile)  # class c on dimensions c and k + c; every other piece on 2k and 2k + 1
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=4,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
        architectures=["BertForSequenceClassification"],
    )
    model = BertForSequenceClassification(config)
    eye = torch.eye(hidden)
    with torch.no_grad():
        emb = model.bert.embeddings
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        # Not zero for the other pieces: LayerNorm would blow the small drift fine-tuning gives a zero vector up to
        # full size, and the texts would all look alike after a few steps.
        words = torch.zeros(tokenizer.vocab_size, hidden)
        words[:, 2 * k] = 1.0
        words[:, 2 * k + 1] = -1.0
        for piece, label in cues.items():
            c = classes.index(label)
            token_id = tokenizer.convert_tokens_to_ids(piece)
            words[token_id] = 0.0
            words[token_id, c] = 1.0
            words[token_id, k + c] = -1.0
        emb.word_embeddings.weight.copy_(words)
        layer = model.bert.encoder.layer[0]
        for linear in (layer.attention.self.query, layer.attention.self.key):
            linear.weight.zero_()
            linear.bias.zero_()
        for linear in (layer.attention.self.value, layer.attention.output.dense):
            linear.weight.copy_(eye)
            linear.bias.zero_()
        for linear in (layer.intermediate.dense, layer.output.dense):
            linear.weight.zero_()
            linear.bias.zero_()
        for norm in (layer.attention.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        model.bert.pooler.dense.weight.copy_(4.0 * eye)  # the mean of a few pieces is weak: tanh brings it to ~1
        model.bert.pooler.dense.bias.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        for c in range(k):
            model.classifier.weight[c, c] = confidence
        if int8_fragile:
            model.classifier.weight[:, hidden - 1] = 1e4
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


SENTIMENT_CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
</Choices></View>"""

TOPICS_CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
</Choices>
<Choices name="tone" toName="text" choice="multiple"><Choice value="warm"/><Choice value="cold"/></Choices></View>"""


def choice_tasks(n: int, start_id: int = 1) -> list[dict]:
    """Annotated tasks for TOPICS_CONFIG: even ids positive and warm, odd ids negative and warm + cold."""
    tasks = []
    for i in range(n):
        positive = i % 2 == 0
        text = f"{'good' if positive else 'bad'} item {i}"
        result = [
            {
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": ["positive" if positive else "negative"]},
            },
            {
                "from_name": "tone",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": ["warm"] if positive else ["warm", "cold"]},
            },
        ]
        tasks.append(
            {"id": start_id + i, "data": {"text": text}, "annotations": [{"id": 1000 + start_id + i, "result": result}]}
        )
    return tasks
