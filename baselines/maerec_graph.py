"""MAERec's item graph, adaptive path masking and reconstruction sampling, on ``torch.sparse``.

Follows HKUDS/MAERec @bd92f2c: ``construct.py`` / README ``construct_graphs`` (the graph), ``handler.py``
``make_torch_adj`` / ``make_all_one_adj``, ``model.py`` ``LocalGraph`` (path-based seed scores),
``RandomMaskSubgraphs`` (the masker) and ``main.py`` ``sample_pos_edges`` / ``sample_neg_edges``.

* **Graph**: items ``1..distance`` positions apart in a training sequence ``s[:-2]`` are linked both ways
  (binary); ``A_hat = D^-1/2 (A + I) D^-1/2`` (binary before normalising) is the encoder's graph, the same
  pattern with all-one values is the path scorer's.
* **Seed scores** (``LocalGraph``): a k-step path aggregate of each item's neighbourhood, with edges kept with
  probability ``path_prob^(i+1)`` at step i, cosine-compared with the item's own embedding, plus Gumbel noise;
  the ``mask_candidates`` best items are the seeds.
* **Masking** (``RandomMaskSubgraphs``): the edges touching a seed are removed, then ``mask_depth - 1`` more hops
  from a random ``path_prob^(i+1)`` share of the next seeds. The original's next seeds are ``nxtRows + nxtCols``,
  the *element-wise sums* of the removed edges' end points (tensors add), not their union;
  ``seed_expansion: sum`` keeps that, ``endpoints`` uses the end points. The remaining edges, with value 1,
  are normalised ``D^-1/2 A D^-1/2`` (degree + 1e-12).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from elcrec.data.graphs import coo, pairs_within, sparse_coo, sym_normalize, to_torch, training_prefix
from elcrec.data.sequences import SequenceData

SEQUENCE_CUT = 2  # the training sequences s[:-2] (inputs and targets)
EXPANSIONS = ("sum", "endpoints")


def item_graph(data: SequenceData, distance: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(normalised A + I, its all-one pattern, sorted edge keys ``a * n + b`` of A) over ``item_size`` nodes."""
    n = data.item_size
    items, offsets = training_prefix(data, SEQUENCE_CUT)
    r, c = pairs_within(items, offsets, distance)
    trn = (coo(r, c, 1.0, (n, n)) != 0).astype(np.float32)
    adj = to_torch(sym_normalize(((trn + sp.eye(n, dtype=np.float32)) != 0).astype(np.float32)))
    ones = sparse_coo(adj.indices(), torch.ones_like(adj.values()), adj.shape)
    t = trn.tocoo()
    return adj, ones, np.unique(t.row.astype(np.int64) * n + t.col)


def row_sums(adj: torch.Tensor) -> torch.Tensor:
    return torch.sparse.sum(adj, -1).to_dense().view(-1, 1) if adj._nnz() else adj.new_zeros(adj.shape[0], 1)


def keep_edges(adj: torch.Tensor, keep_prob: float) -> torch.Tensor:
    """``sparse_dropout``: each stored edge survives with probability ``keep_prob`` (values unchanged)."""
    keep = (torch.rand(adj._nnz(), device=adj.device) + keep_prob).floor().bool()
    return sparse_coo(adj.indices()[:, keep], adj.values()[keep], adj.shape)


def seed_scores(ones: torch.Tensor, embeds: torch.Tensor, depth: int, path_prob: float) -> torch.Tensor:
    """``LocalGraph.forward`` without the noise: cosine of each item with its path-aggregated neighbourhood."""
    adj = ones
    order = row_sums(adj)
    emb = [torch.sparse.mm(adj, embeds) - embeds]
    num = [order]
    for i in range(depth):
        adj = keep_edges(adj, path_prob ** (i + 1))
        emb.append((torch.sparse.mm(adj, emb[-1]) - emb[-1]) - order * emb[-1])
        num.append((torch.sparse.mm(adj, num[-1]) - num[-1]) - order)
        order = row_sums(adj)
    sub = F.normalize(sum(emb) / (sum(num) + 1e-8), p=2)
    return (sub * F.normalize(embeds, p=2)).sum(-1)


def gumbel(shape: torch.Size, device: torch.device) -> torch.Tensor:
    return -torch.log(-torch.log(torch.rand(shape, device=device)))


def mask_paths(adj: torch.Tensor, seeds: torch.Tensor, depth: int, path_prob: float,
               expansion: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised encoder graph without the masked edges, (M, 2) masked edges) (``RandomMaskSubgraphs``)."""
    rows, cols = adj.indices()
    masked = []
    cur = seeds
    for i in range(depth):
        hit = torch.isin(rows, cur) | torch.isin(cols, cur)
        nxt_rows, nxt_cols = rows[hit], cols[hit]
        masked.append(torch.stack([nxt_rows, nxt_cols], 1))
        rows, cols = rows[~hit], cols[~hit]
        cur = nxt_rows + nxt_cols if expansion == "sum" else torch.cat([nxt_rows, nxt_cols])
        if len(cur) > 0 and i != depth - 1:
            cur = torch.unique(cur)
            cur = cur[torch.randperm(len(cur), device=cur.device)[: int(len(cur) * path_prob ** (i + 1))]]
    n = adj.shape[0]
    deg = torch.bincount(rows, minlength=n).to(adj.dtype)
    inv = (deg + 1e-12).pow(-0.5)
    enc = sparse_coo(torch.stack([rows, cols]), inv[rows] * inv[cols], adj.shape)
    return enc, torch.cat(masked)


def sample_negative_edges(pos: torch.Tensor, keys: torch.Tensor, n: int, high: int, per_pos: int) -> torch.Tensor:
    """(P, per_pos, 2): for each (u, v), ``per_pos // 2`` pairs (u, v') then as many (u', v), each absent from the
    training graph (edge keys ``a * n + b``), v' and u' uniform on ``1..high - 1`` (``sample_neg_edges``)."""
    half = per_pos // 2
    u = pos[:, :1].expand(-1, half)
    v = pos[:, 1:].expand(-1, half)
    first = _draw_absent(lambda d: u * n + d, u.shape, keys, high)
    second = _draw_absent(lambda d: d * n + v, v.shape, keys, high)
    return torch.cat([torch.stack([u, first], -1), torch.stack([second, v], -1)], 1)


MAX_REDRAWS = 1000  # the original redraws forever; an item linked to every other one would never finish


def _draw_absent(key_of, shape: torch.Size, keys: torch.Tensor, high: int) -> torch.Tensor:  # noqa: ANN001
    draw = torch.randint(1, high, shape, device=keys.device)
    for _ in range(MAX_REDRAWS):
        bad = torch.isin(key_of(draw), keys)
        if not bool(bad.any()):
            break
        draw = torch.where(bad, torch.randint(1, high, shape, device=keys.device), draw)
    return draw
