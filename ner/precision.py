"""Serving at reduced precision: the model converted once, where serving models are built.

fp32  the weights as trained; what training and evaluation always use
bf16  every weight and activation in bfloat16 (fast on CPUs with AVX-512 BF16 / AMX, and on GPUs)
int8  dynamic quantization of the Linear layers (int8 weights with one scale per output channel, activations
      quantized per batch; PyTorch's `quantize_dynamic`, as in Zafrir et al. 2019 "Q8BERT"), everything else
      fp32; CPU only. Per-channel weights, not PyTorch's per-tensor default: on a MiniLM fine-tuned on CoNLL they
      lost 1.2 points of entity F1 against 1.6 (span agreement 0.90 against 0.85) and ran faster (bench/SPEED.md)

Whether a version may be served so is `ner.parity`'s call.
"""
from __future__ import annotations

import copy

import torch

from ner.parity import FULL, PRECISIONS

__all__ = ["FULL", "PRECISIONS", "to_precision"]


def to_precision(model: torch.nn.Module, precision: str, *, inplace: bool = True) -> torch.nn.Module:
    """The model at `precision` (`inplace=False` leaves `model` as it is and returns a converted copy)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    if precision == FULL:
        return model if inplace else copy.deepcopy(model)
    if not inplace:
        model = copy.deepcopy(model)
    if precision == "bf16":
        return model.to(torch.bfloat16).eval()
    if next(model.parameters()).device.type != "cpu":
        model = model.cpu()  # dynamic int8 kernels are CPU kernels
    qconfig = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    return torch.ao.quantization.quantize_dynamic(model.eval(), qconfig, dtype=torch.qint8, inplace=True)
