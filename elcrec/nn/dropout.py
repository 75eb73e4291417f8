"""Dropout with a cheap mask for p = 0.5, the rate of every SASRec-family model in the paper.

On CPU, ``torch.bernoulli_`` draws one Mersenne-Twister number per element and dominated the official
code's step time (a third of it). For p = 0.5 a Bernoulli(0.5) keep-mask needs exactly one random *bit* per
element, so we draw random bytes and map each to its 8 bits with a lookup table: the same distribution (keep with probability 1/2,
scale by 2), about 10x cheaper. Other rates use ``F.dropout`` unchanged. Randomness comes from torch's global
generator, so seeding makes it reproducible.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_LUT: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def half_keep_mask(shape: torch.Size, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of 0.0 / 2.0 with probability 1/2 each (the scaled keep-mask of dropout with p = 0.5).

    One random byte gives 8 elements: a (256, 8) table maps each byte to its bits, already as 0.0 / 2.0.
    """
    n = shape.numel()
    lut = _LUT.get((device, dtype))
    if lut is None:
        bits = (torch.arange(256, device=device)[:, None] >> torch.arange(8, device=device)) & 1
        lut = _LUT[(device, dtype)] = bits.to(dtype) * 2.0
    raw = torch.randint(0, 256, ((n + 7) // 8,), device=device)
    return F.embedding(raw, lut).reshape(-1)[:n].reshape(shape)


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
    if p == 0.5 and x.device.type == "cpu":  # on GPU the fused F.dropout kernel is already cheap
        return _HalfDropout.apply(x)
    return F.dropout(x, p, True)


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (no parameters, so state dicts are unchanged)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
