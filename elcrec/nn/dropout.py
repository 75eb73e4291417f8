"""Dropout with a cheap mask for p = 0.5, the rate of every SASRec-family model in the paper.

On CPU, ``torch.bernoulli_`` draws one Mersenne-Twister number per element and dominated the official
code's step time (a third of it). For p = 0.5 a Bernoulli(0.5) keep-mask needs exactly one random *bit* per
element, so we draw random bytes and unpack their 8 bits: the same distribution (keep with probability 1/2,
scale by 2), about 10x cheaper. Other rates use ``F.dropout`` unchanged. Randomness comes from torch's global
generator, so seeding makes it reproducible.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_SHIFTS: dict[torch.device, torch.Tensor] = {}


def half_keep_mask(shape: torch.Size, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of 0.0 / 2.0 with probability 1/2 each (the scaled keep-mask of dropout with p = 0.5)."""
    n = shape.numel()
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(8, dtype=torch.uint8, device=device)
    raw = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8, device=device)
    bits = ((raw[:, None] >> shifts) & 1).reshape(-1)[:n].reshape(shape)
    return bits.to(dtype) * 2.0


class _HalfDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mask = half_keep_mask(x.shape, x.device, x.dtype)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad * mask


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if p == 0.5:
        return _HalfDropout.apply(x)
    return F.dropout(x, p, True)


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (no parameters, so state dicts are unchanged)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
