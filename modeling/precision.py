"""Serving at reduced precision: the model converted once, where serving models are built.

fp32  the weights as trained; what training and evaluation always use
bf16  every weight and activation in bfloat16 (fast on CPUs with AVX-512 BF16 / AMX, and on GPUs)
int8  dynamic quantization of the Linear layers (int8 weights with one scale per output channel, activations
      quantized per batch; PyTorch's `quantize_dynamic`, as in Zafrir et al. 2019 "Q8BERT"), everything else
      fp32; CPU only. Per-channel weights, not PyTorch's per-tensor default: on a MiniLM fine-tuned on CoNLL they
      lost 1.2 points of entity F1 against 1.6 (span agreement 0.90 against 0.85) and ran faster (bench/SPEED.md)

auto  bf16 where the device computes it natively (CPUs with AVX-512 BF16 / AMX, CUDA GPUs that support it), else
      fp32: on 2 AVX-512 BF16 cores bf16 served 1.6-1.9x fp32's tasks/s with 0.0003 entity F1 lost, but a CPU
      without native bf16 emulates it, slower than fp32 (bench/SPEED.md)

Whether a version may be served so is `modeling.parity`'s call.
"""

from __future__ import annotations

import copy

import torch

from modeling.parity import AUTO, FULL, PRECISIONS

__all__ = ["AUTO", "FULL", "PRECISIONS", "fast_bf16", "resolve_precision", "to_precision"]


def fast_bf16(device: str = "cpu") -> bool:
    """Whether `device` ("cpu", "cuda", ...) runs bf16 matrix products natively rather than by emulation."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(setting: str, device: str = "cpu") -> str:
    """The precision SERVING_PRECISION asks for on `device`: itself, or for `auto` bf16 or fp32 (see above)."""
    if setting == AUTO:
        return "bf16" if fast_bf16(device) else FULL
    return setting


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
