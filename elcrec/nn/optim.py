"""Optimisers of original TensorFlow codes that torch has no exact equivalent of (BERT4Rec, NGCF's BPR-MF).

* :class:`AdamWeightDecay`: BERT's ``AdamWeightDecayOptimizer`` (FeiSun/BERT4Rec ``optimization.py``): Adam
  moments *without* bias correction, ``update = m / (sqrt(v) + eps) + weight_decay * param`` (decay skipped for
  LayerNorm and bias parameters), ``param -= lr * update``. torch's AdamW corrects the bias, so it differs.
* :class:`TFRMSProp`: ``tf.train.RMSPropOptimizer`` (decay 0.9, momentum 0, epsilon 1e-10) as NGCF's BPRMF.py
  uses it: the mean square starts at **1** (torch's RMSprop starts at 0), epsilon sits inside the square root,
  and embedding tables get TF's *sparse* update (only the rows a batch looked up change, their mean square
  included; torch's dense update would decay every row's mean square at every step).
* :func:`warmup_linear_decay`: BERT's schedule: lr ``init * step / warmup`` while ``step < warmup``, then
  ``init * (1 - step / total)`` (clipped at 0), where ``step`` counts the updates already made.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR


class AdamWeightDecay(torch.optim.Optimizer):
    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])


class TFRMSProp(torch.optim.Optimizer):
    def __init__(self, params: Iterable, lr: float, decay: float = 0.9, eps: float = 1e-10,
                 sparse_rows: bool = False) -> None:
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps, "sparse_rows": sparse_rows})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201
        for group in self.param_groups:
            rho, lr, eps = group["decay"], group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["ms"] = torch.ones_like(p)  # tf: the "rms" slot is initialised to ones
                g = p.grad
                if group["sparse_rows"] and p.dim() == 2:  # tf.nn.embedding_lookup: IndexedSlices, sparse apply
                    rows = (g != 0).any(1).nonzero().squeeze(1)
                    ms = state["ms"][rows] * rho + (1 - rho) * g[rows] ** 2
                    state["ms"][rows] = ms
                    p[rows] -= lr * g[rows] / (ms + eps).sqrt()
                else:
                    ms = state["ms"].mul_(rho).addcmul_(g, g, value=1 - rho)
                    p.addcdiv_(g, (ms + eps).sqrt(), value=-lr)


def warmup_linear_decay(optim: torch.optim.Optimizer, warmup: int, total: int) -> LambdaLR:
    """BERT's learning rate: linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` steps."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        return max(0.0, 1.0 - step / total)
    return LambdaLR(optim, factor)
