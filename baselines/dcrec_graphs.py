"""DCRec's two item graphs and its GCN, on ``torch.sparse`` (the original uses DGL).

Follows HKUDS/DCRec @2338233 (``run_DCRec.py`` ``build_adj_graph`` / ``build_sim_graph``;
``recbole/model/sequential_recommender/dcrec.py`` ``GCN``, ``graph_dropout``, ``graph_augment``,
``graph_dual_neighbor_readout``). Both graphs come from each user's training input ``s[:-3]`` (the
``item_id_list`` of a training row; its target is not in it), never from a validation or test item.

* **Transition graph** (``build_adj_graph``): every consecutive pair (a, b) of a sequence adds 2 to A[a, b] and
  2 to A[b, a] (the original appends each pair from both of its ends); the diagonal is then *set* to 1 for every
  node, and A is normalised by its row sums, D^-1/2 A D^-1/2.
* **Co-interaction graph** (``build_sim_graph``): cosine similarity of the items' user-count columns; each row
  keeps its ``k + 1`` largest entries (itself included) with weights divided by their row sum (NaN -> 0). The
  original fills the rows block by block with a loop that skips blocks (``similarity = similarity[i:]`` with a
  growing ``i``), so row r of the graph holds the neighbours of item ``order[r]`` and the rows past the end hold
  nothing; ``sim_rows: original`` reproduces that order, ``aligned`` gives each item its own neighbours.
* **GCN** (``GCN`` with DGL's ``GraphConv(norm='both', weight=False)``): a self-loop of weight 1 is added to
  every node (``dgl.add_self_loop``), ``int(p * E)`` edge weights drawn with replacement are zeroed
  (``graph_dropout``, in training *and* evaluation), and two propagation steps
  ``h_dst = sum_src w * h_src * outdeg(src)^-1/2 * indeg(dst)^-1/2`` (degrees count edges, zero-weight ones
  included) are averaged with the input. The ``F.dropout`` between the steps discards its result in the
  original and is left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import scipy.sparse as sp

from elcrec.data.graphs import coo, pairs_within, sparse_coo, sym_normalize, training_prefix, user_item_counts
from elcrec.data.sequences import SequenceData

INPUT_CUT = 3  # the training input s[:-3]
SIM_BLOCK = 256  # the original's row block


@dataclass
class EdgeGraph:
    """A directed weighted graph as edge lists (``src -> dst``), the layout DGL holds."""

    src: torch.Tensor  # (E,) int64
    dst: torch.Tensor  # (E,) int64
    weight: torch.Tensor  # (E,) float32
    n: int

    def to(self, device: torch.device) -> "EdgeGraph":
        return EdgeGraph(self.src.to(device), self.dst.to(device), self.weight.to(device), self.n)

    def keys(self) -> torch.Tensor:
        return self.src * self.n + self.dst

    def without(self, keys: torch.Tensor) -> "EdgeGraph":
        """The graph with the edges whose ``src * n + dst`` is in ``keys`` removed (DCRec ``graph_augment``)."""
        keep = ~torch.isin(self.keys(), keys)
        return EdgeGraph(self.src[keep], self.dst[keep], self.weight[keep], self.n)


def transition_graph(data: SequenceData) -> tuple[EdgeGraph, tuple[np.ndarray, np.ndarray]]:
    """The normalised transition graph and every user's transition edges (CSR over users, keys ``a * n + b``)."""
    n = data.item_size
    items, offsets = training_prefix(data, INPUT_CUT)
    a, b = pairs_within(items, offsets, 1)  # (s[i+1], s[i]) then (s[i], s[i+1]): both directions, once each
    adj = coo(a, b, 2.0, (n, n)).tolil()  # each pair is appended from both of its ends
    adj.setdiag(np.ones(n))
    adj = sym_normalize(adj.tocsr()).tocoo()
    graph = EdgeGraph(torch.from_numpy(adj.row.astype(np.int64)), torch.from_numpy(adj.col.astype(np.int64)),
                      torch.from_numpy(adj.data.astype(np.float32)), n)
    return graph, _user_edge_keys(items, offsets, n)


def _user_edge_keys(items: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user, the keys of the edges (s[i], s[i-1]) and (s[i], s[i+1]) of the original's ``user_edges``."""
    lengths = np.diff(offsets)
    user = np.repeat(np.arange(len(lengths)), lengths)
    same_next = np.zeros(len(items), bool)
    same_next[:-1] = user[:-1] == user[1:]
    i = np.flatnonzero(same_next)  # s[i] has a successor in its sequence
    keys = np.concatenate([items[i + 1] * n + items[i], items[i] * n + items[i + 1]])
    owner = np.concatenate([user[i + 1], user[i]])
    order = np.argsort(owner, kind="stable")
    ptr = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=len(lengths)), out=ptr[1:])
    return ptr, keys[order]


def sim_row_order(n: int, block: int = SIM_BLOCK) -> np.ndarray:
    """The item whose neighbours the original's block loop writes into each graph row (see module doc)."""
    rows = np.arange(n)
    out, i = [], 0
    while i < len(rows):
        rows = rows[i:]
        out.append(rows[:block])
        i += block
    out.append(rows[block:])
    return np.concatenate(out)


def similarity_graph(data: SequenceData, k: int, rows: str = "original") -> EdgeGraph:
    """Top-(k+1) cosine item-item graph of the user-item counts, rows normalised to sum 1."""
    n = data.item_size
    items, offsets = training_prefix(data, INPUT_CUT)
    ui = user_item_counts(items, offsets, n)  # (U, n)
    norm = np.sqrt(np.asarray(ui.multiply(ui).sum(0), np.float64)).ravel()
    norm[norm == 0] = 1.0
    unit = (ui @ sp.diags((1.0 / norm).astype(np.float32))).tocsc()
    sim = (unit.T @ unit).tocsr()  # (n, n) cosine similarities of the item columns
    order = sim_row_order(n) if rows == "original" else np.arange(n)
    if len(order) > n:
        raise ValueError(f"the original's row order has {len(order)} rows for {n} items")
    src, dst, w = [], [], []
    for lo in range(0, len(order), SIM_BLOCK):
        chunk = order[lo : lo + SIM_BLOCK]
        dense = torch.from_numpy(sim[order[lo : lo + SIM_BLOCK]].toarray())
        top_w, top_i = torch.topk(dense, k + 1, dim=1)
        total = top_w.sum(1, keepdim=True)
        src.append(torch.arange(lo, lo + len(chunk)).repeat_interleave(k + 1))
        dst.append(top_i.reshape(-1))
        w.append(torch.nan_to_num(top_w / total).reshape(-1))
    return EdgeGraph(torch.cat(src), torch.cat(dst), torch.cat(w).float(), n)


def gcn(graph: EdgeGraph, x: torch.Tensor, drop_p: float, steps: int = 2) -> torch.Tensor:
    """DCRec's ``GCN.forward``: self-loops, edge-weight dropout, ``steps`` GraphConv(norm='both'), layer mean."""
    loops = torch.arange(graph.n, device=x.device)
    src, dst = torch.cat([graph.src, loops]), torch.cat([graph.dst, loops])
    w = torch.cat([graph.weight, torch.ones(graph.n, device=x.device)])
    drop = int(drop_p * len(w))
    if drop > 0:
        w = w.index_fill(0, torch.randint(0, len(w), (drop,), device=x.device), 0.0)
    out_deg = torch.bincount(src, minlength=graph.n).clamp(min=1).to(x.dtype)
    in_deg = torch.bincount(dst, minlength=graph.n).clamp(min=1).to(x.dtype)
    vals = w * out_deg[src].pow(-0.5) * in_deg[dst].pow(-0.5)
    prop = sparse_coo(torch.stack([dst, src]), vals, (graph.n, graph.n))
    embs = [x]
    for _ in range(steps):
        embs.append(torch.sparse.mm(prop, embs[-1]))
    return torch.stack(embs, 1).mean(1)


def dual_neighbor_readout(graph: EdgeGraph, removed: torch.Tensor, nodes: torch.Tensor, features: torch.Tensor,
                          cap: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """(civil, foreign) neighbour means of ``nodes`` (DCRec ``graph_dual_neighbor_readout``).

    Foreign neighbours: out-neighbours in the graph without the ``removed`` edges, at most ``cap`` drawn at random;
    civil: the other out-neighbours (the unsampled foreign ones included, as the original subtracts the
    *sampled* set), at most ``cap`` drawn. An empty civil set reads out zeros, as the original; an empty foreign
    set (the original's mean of nothing is NaN) reads out zeros too.
    """
    order = torch.argsort(graph.src, stable=True)
    src, dst = graph.src[order], graph.dst[order]
    ptr = torch.zeros(graph.n + 1, dtype=torch.long, device=src.device)
    ptr[1:] = torch.cumsum(torch.bincount(src, minlength=graph.n), 0)
    deg = ptr[nodes + 1] - ptr[nodes]
    seg = torch.repeat_interleave(torch.arange(len(nodes), device=src.device), deg)
    pos = torch.arange(len(seg), device=src.device) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
    nbr = dst[ptr[nodes][seg] + pos]
    foreign = ~torch.isin(nodes[seg] * graph.n + nbr, removed)
    picked_foreign = foreign & _sample_per_segment(seg, foreign, cap, len(nodes))
    civil = ~picked_foreign
    picked_civil = civil & _sample_per_segment(seg, civil, cap, len(nodes))
    return _segment_mean(features, nbr, seg, picked_civil, len(nodes)), \
        _segment_mean(features, nbr, seg, picked_foreign, len(nodes))


def _sample_per_segment(seg: torch.Tensor, member: torch.Tensor, cap: int, nseg: int) -> torch.Tensor:
    """A uniform random subset of at most ``cap`` members of each segment."""
    keys = torch.rand(len(seg), device=seg.device) + (~member).to(torch.float32) * 2  # members first
    order = torch.argsort(seg.to(torch.float64) * 4 + keys.to(torch.float64))
    start = torch.zeros(nseg + 1, dtype=torch.long, device=seg.device)
    start[1:] = torch.cumsum(torch.bincount(seg, minlength=nseg), 0)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=seg.device) - start[seg[order]]
    return rank < cap


def _segment_mean(features: torch.Tensor, nbr: torch.Tensor, seg: torch.Tensor, keep: torch.Tensor,
                  nseg: int) -> torch.Tensor:
    total = features.new_zeros(nseg, features.shape[1]).index_add(0, seg[keep], features[nbr[keep]])
    count = torch.bincount(seg[keep], minlength=nseg).clamp(min=1).to(features.dtype)
    return total / count[:, None]
