"""Loss functions shared by the models, written to match the original arithmetic (method doc §2.5, §2.7)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-24  # the original adds 1e-24 inside both logs of the BCE


def bce_next_item(seq_out: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, item_emb: torch.Tensor) -> torch.Tensor:
    """SASRec BCE with one negative per position, averaged over positions whose target is not padding."""
    pos_logits = (seq_out * item_emb[pos]).sum(-1)
    neg_logits = (seq_out * item_emb[neg]).sum(-1)
    is_target = (pos > 0).to(seq_out.dtype)
    loss = -torch.log(torch.sigmoid(pos_logits) + EPS) - torch.log(1 - torch.sigmoid(neg_logits) + EPS)
    return (loss * is_target).sum() / is_target.sum()


def nce_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Symmetric NT-Xent with raw dot products: 2n anchors, positive = the other view, 2n - 2 negatives.

    Logits ``[[a.b^T, a.a^T], [b.b^T, b.a^T]]`` with the self-similarities on the diagonals of a.a^T and b.b^T
    set to -inf, cross-entropy against ``arange(2n)`` (ICLRec/ELCRec ``NCELoss`` without false-negative masking).
    """
    sim11 = a @ a.T / temperature
    sim22 = b @ b.T / temperature
    sim12 = a @ b.T / temperature
    n = sim12.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=a.device)
    sim11 = sim11.masked_fill(eye, float("-inf"))
    sim22 = sim22.masked_fill(eye, float("-inf"))
    logits = torch.cat([torch.cat([sim12, sim11], -1), torch.cat([sim22, sim12.T], -1)], -2)
    return F.cross_entropy(logits, torch.arange(2 * n, device=a.device))


def intent_nce_loss(v1: torch.Tensor, v2: torch.Tensor, intents: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """ICLRec's ``PCLoss`` with one intent set: the mean of NCE(view 1, intent) and NCE(view 2, intent)."""
    return (nce_loss(v1, intents, temperature) + nce_loss(v2, intents, temperature)) / 2


def squared_distance(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """||x_i - c_j||^2 as ||x||^2 + ||c||^2 - 2 x.c (the original's ``distance``, same rounding)."""
    return (x * x).sum(-1)[:, None] + (c * c).sum(-1)[None, :] - 2 * x @ c.T
