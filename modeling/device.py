"""Where models run: the GPU when torch sees one, else the CPU; training and serving pick it the same way."""

from __future__ import annotations

import torch


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
