"""Item graphs built from the training part of each sequence only (DCRec, MAERec).

Leave-one-out holds out ``s[-2]`` (validation) and ``s[-1]`` (test); the training input is ``s[:-3]`` and its
targets ``s[1:-2]``. A graph baseline sees only one of these prefixes, chosen per model:

* ``training_prefix(data, cut=3)``: the training input ``s[:-3]`` (DCRec: its graphs come from the
  ``item_id_list`` of the training rows, which excludes the row's target);
* ``training_prefix(data, cut=2)``: the whole training sequence ``s[:-2]`` (MAERec: its ``seq`` file is the
  training sequences, inputs and targets).

No cut below 2 is accepted, so no validation or test item can reach a graph. Everything here is vectorised over
users with the CSR layout of :class:`SequenceData` and returns index arrays or scipy matrices (graph
building, as in the originals); ``to_torch`` hands them to ``torch.sparse`` for the GNNs.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from elcrec.data.sequences import SequenceData

MIN_CUT = 2  # s[-2] and s[-1] are held out


def training_prefix(data: SequenceData, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, offsets) of every user's ``s[:len(s) - cut]``; ``cut`` >= 2 keeps validation and test items out."""
    if cut < MIN_CUT:
        raise ValueError(f"cut must be >= {MIN_CUT} (s[-2] and s[-1] are validation and test items), not {cut}")
    lengths = np.maximum(data.lengths - cut, 0)
    offsets = np.zeros(data.num_users + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    pos = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
    return data.items[np.repeat(data.offsets[:-1], lengths) + pos], offsets


def pairs_within(items: np.ndarray, offsets: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (a, b) of items 1..``distance`` positions apart in one sequence, both directions.

    Per user and distance d, the pairs ``(s[i + d], s[i])`` come first and ``(s[i], s[i + d])`` after them (MAERec
    ``construct_graphs``); with ``distance=1`` these are DCRec's transition edges. Duplicates are kept.
    """
    user = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    rows, cols = [], []
    for d in range(1, distance + 1):
        ok = np.flatnonzero(np.arange(len(items)) + d < len(items))
        ok = ok[user[ok] == user[np.minimum(ok + d, len(items) - 1)]]
        rows += [items[ok + d], items[ok]]
        cols += [items[ok], items[ok + d]]
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def coo(rows: np.ndarray, cols: np.ndarray, values: np.ndarray | float, shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR matrix from (row, col, value) triples; duplicates are summed, as ``csr_matrix((d, (r, c)))``."""
    values = np.broadcast_to(np.asarray(values, np.float32), np.shape(rows))
    return sp.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32)


def sym_normalize(adj: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 A D^-1/2 with the row sums as degrees; a zero degree gives 0 (the originals' ``d_inv[isinf] = 0``)."""
    with np.errstate(divide="ignore"):
        inv = np.power(np.asarray(adj.sum(1), np.float64).ravel(), -0.5)
    inv[np.isinf(inv)] = 0.0
    d = sp.diags(inv.astype(np.float32))
    return (d @ adj @ d).tocsr()


def user_item_counts(items: np.ndarray, offsets: np.ndarray, num_items: int) -> sp.csr_matrix:
    """(U, num_items) user-item counts of the given prefixes (an item a user repeats counts twice)."""
    user = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return coo(user, items, 1.0, (len(offsets) - 1, num_items))


def sparse_coo(indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A coalesced ``torch.sparse_coo_tensor`` (duplicates summed); indices are trusted, so not re-checked."""
    return torch.sparse_coo_tensor(indices, values, tuple(shape), check_invariants=False).coalesce()


def to_torch(mat: sp.spmatrix) -> torch.Tensor:
    """A coalesced float32 ``torch.sparse_coo_tensor`` with the entries of a scipy matrix (explicit zeros kept)."""
    m = mat.tocoo()
    idx = torch.from_numpy(np.stack([m.row, m.col]).astype(np.int64))
    return sparse_coo(idx, torch.from_numpy(m.data.astype(np.float32)), m.shape)
