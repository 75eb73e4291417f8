"""Sequence augmentations for contrastive views, vectorised over all users at once (method doc §2.6).

The ICLRec/ELCRec operators, applied to each user's *untruncated* training input ``s[:-3]`` (length L),
then cut to the last ``max_len`` items and left-padded:

* crop(tau):   L' = floor(tau * L); start ~ U{0, ..., L - L' - 1}; keep ``s[start:start + L']``
               (the single item ``s[start]`` when L' < 1). tau = 0.2 keeps 20%.
* mask(gamma): floor(gamma * L) positions, drawn without replacement, are set to ``mask_value``
               (0 = the pad id in ICLRec/ELCRec, so masked items also leave the attention).
* reorder(beta): L' = floor(beta * L); start ~ U{0, ..., L - L' - 1}; shuffle ``s[start:start + L']``.

Each view draws its operator uniformly from the configured set, independently per user and view (the same
operator may be drawn twice, as in the original's ``Random``); ``distinct_pair=True`` draws two different
operators per user instead (CL4SRec). Randomness comes from one ``numpy.random.Generator`` so an epoch's
views are a pure function of the seed. The original's off-by-one (a crop or reorder window never starts at
L - L') is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

OPS = ("crop", "mask", "reorder")


@dataclass(frozen=True)
class AugmentConfig:
    tau: float = 0.2  # crop keeps this fraction
    gamma: float = 0.7  # mask this fraction
    beta: float = 0.2  # reorder this fraction
    mask_value: int = 0  # 0 = pad (ICLRec/ELCRec); CL4SRec uses a dedicated mask token
    ops: tuple[str, ...] = OPS
    distinct_pair: bool = False


def _segment_rank(keys: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Rank of each key within its segment (0 = smallest), for segments given as sorted ids ``seg``."""
    order = np.lexsort((keys, seg))
    starts = np.searchsorted(seg[order], seg[order], side="left")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - starts
    return rank


def augment_views(
    items: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    ops: np.ndarray,
    cfg: AugmentConfig,
    max_len: int,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Augment each sequence ``items[starts[i]:starts[i] + lengths[i]]`` by operator ``ops[i]`` (index into OPS).

    Returns a (n, max_len) int64 tensor: the last ``max_len`` items of each augmented sequence, left-padded.
    """
    values, keep, seg = augment_flat(items, starts, lengths, ops, cfg, rng)
    return pack_last(values[keep], seg[keep], len(starts), max_len)


def augment_flat(items: np.ndarray, starts: np.ndarray, lengths: np.ndarray, ops: np.ndarray, cfg: AugmentConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, keep, seg) of :func:`augment_views` before packing: ``values`` holds every sequence back to back
    after mask and reorder (crop only clears ``keep``), i.e. what an in-place mask or reorder leaves behind."""
    n = len(starts)
    lengths = lengths.astype(np.int64)
    seg = np.repeat(np.arange(n), lengths)  # sequence index of every flat position
    pos = np.arange(len(seg)) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # position within sequence
    values = items[np.repeat(starts, lengths) + pos]
    keep = np.ones(len(seg), dtype=bool)

    is_crop, is_mask, is_reorder = (ops == OPS.index(o) for o in OPS)
    # crop and reorder windows: L' = floor(frac * L), start uniform in [0, L - L' - 1]
    frac = np.where(is_crop, cfg.tau, cfg.beta)
    win = (frac * lengths).astype(np.int64)  # int(frac * L) in float64, exactly as the original's int()
    hi = np.maximum(lengths - win, 1)
    wstart = np.floor(rng.random(n) * hi).astype(np.int64)
    seg_wstart, seg_win = wstart[seg], win[seg]
    in_window = (pos >= seg_wstart) & (pos < seg_wstart + seg_win)

    # crop: keep the window (or the single item at start when the window is empty)
    crop_pos = is_crop[seg]
    keep &= ~crop_pos | in_window | ((seg_win == 0) & (pos == seg_wstart))

    # mask: floor(gamma * L) positions without replacement
    n_mask = (cfg.gamma * lengths).astype(np.int64)  # int(0.7 * 90) = 62, as the original
    mask_rank = _segment_rank(rng.random(len(seg)), seg)
    masked = is_mask[seg] & (mask_rank < n_mask[seg])
    values = np.where(masked, cfg.mask_value, values)

    # reorder: a random permutation inside the window
    shuffle = is_reorder[seg] & in_window
    if shuffle.any():
        idx = np.flatnonzero(shuffle)
        order = np.lexsort((rng.random(len(idx)), seg[idx]))
        values[idx] = values[idx[order]]
    return values, keep, seg


def pack_last(values: np.ndarray, seg: np.ndarray, n: int, max_len: int) -> torch.Tensor:
    """(n, max_len): the last max_len values of each segment (``seg``: sorted segment ids), left-padded with 0."""
    out_len = np.bincount(seg, minlength=n)
    end = np.cumsum(out_len)
    idx = end[:, None] - max_len + np.arange(max_len)[None, :]
    valid = idx >= np.maximum(end - out_len, end - max_len)[:, None]
    out = np.where(valid, values[np.clip(idx, 0, max(len(values) - 1, 0))] if len(values) else 0, 0)
    return torch.from_numpy(out.astype(np.int64))


def draw_ops(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Operator indices (into OPS) of the two views of ``n`` sequences."""
    allowed = np.array([OPS.index(o) for o in cfg.ops])
    first = rng.integers(0, len(allowed), n)
    if cfg.distinct_pair and len(allowed) > 1:
        second = (first + rng.integers(1, len(allowed), n)) % len(allowed)
    else:
        second = rng.integers(0, len(allowed), n)
    return allowed[first], allowed[second]
