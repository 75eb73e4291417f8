"""Tests for the contrastive-view augmentations and the negative sampler (method doc §2.6, §2.7).

The sequences are the items 1..L in order, so an item's value tells where it came from and every property of
the original operators (``ELCRec/src/data_augmentation.py``) can be checked row by row with integer arithmetic
done here: crop keeps ``int(0.2 L)`` contiguous items (one item when that is 0) whose window starts in
``[0, L - L' - 1]`` (never at ``L - L'``: the original's ``randint`` off-by-one), mask zeroes ``int(0.7 L)``
positions in place, reorder shuffles one window of ``int(0.2 L)`` items inside the same start range.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from elcrec.data.augment import OPS, AugmentConfig, augment_views, draw_ops
from elcrec.data.batches import EpochBuilder
from elcrec.data.negatives import NegativeSampler
from elcrec.data.sequences import SequenceData

LENGTHS = [1, 2, 4, 5, 10, 37, 120]
BIG = 128  # max_len above every L: nothing is truncated


def crop_len(length: int) -> int:
    return (2 * length) // 10  # floor(0.2 L) in exact integers


def mask_count(length: int) -> int:
    return (7 * length) // 10  # floor(0.7 L)


def apply(op: str, length: int, n: int, max_len: int = BIG, seed: int = 0, cfg: AugmentConfig | None = None,
          ) -> np.ndarray:
    """n independent draws of operator ``op`` on the sequence 1..L (one stored copy, n rows pointing at it)."""
    items = np.arange(1, length + 1, dtype=np.int64)
    out = augment_views(items, np.zeros(n, dtype=np.int64), np.full(n, length, dtype=np.int64),
                        np.full(n, OPS.index(op)), cfg or AugmentConfig(), max_len, np.random.default_rng(seed))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int64 and out.shape == (n, max_len)
    return out.numpy()


# ------------------------------------------------------------------------------------------------- crop


@pytest.mark.parametrize("length", LENGTHS)
def test_crop_keeps_a_contiguous_window_that_never_starts_at_L_minus_Lprime(length: int) -> None:
    rows = apply("crop", length, 2000, seed=length)
    keep = max(crop_len(length), 1)
    last_start = length - crop_len(length) - 1  # randint(0, L - L' - 1): also right for L' = 0
    starts = []
    for row in rows:
        assert (row[: BIG - keep] == 0).all()  # left-padded
        kept = row[BIG - keep :]
        assert kept.tolist() == list(range(kept[0], kept[0] + keep))
        starts.append(int(kept[0]) - 1)
    assert min(starts) == 0 and max(starts) == last_start  # the whole start range is used, no more
    if crop_len(length) >= 1:
        assert length not in {s + keep for s in starts}  # the last item is never kept


def test_crop_truncates_to_the_last_items() -> None:
    length, max_len = 120, 10  # the crop keeps 24 items: only its last 10 remain
    for row in apply("crop", length, 500, max_len=max_len, seed=3):
        assert row.tolist() == list(range(row[-1] - max_len + 1, row[-1] + 1))
        assert crop_len(length) <= row[-1] <= length - 1  # window end = start + 24 with start in [0, 95]


# ------------------------------------------------------------------------------------------------- mask


@pytest.mark.parametrize("length", LENGTHS)
def test_mask_zeroes_exactly_floor_gamma_L_positions_in_place(length: int) -> None:
    rows = apply("mask", length, 1000, seed=length)
    identity = np.arange(1, length + 1)
    hits = np.zeros(length)
    for row in rows:
        assert (row[: BIG - length] == 0).all()
        tail = row[BIG - length :]
        masked = tail == 0
        assert masked.sum() == mask_count(length)
        assert (tail[~masked] == identity[~masked]).all()  # the rest stays where it was
        hits += masked
    if 0 < mask_count(length) < length:  # positions drawn uniformly without replacement
        assert np.allclose(hits / len(rows), mask_count(length) / length, atol=0.08)


def test_mask_honours_mask_value() -> None:
    length, value = 37, 999
    rows = apply("mask", length, 200, cfg=AugmentConfig(mask_value=value), seed=1)
    for row in rows:
        tail = row[BIG - length :]
        assert (tail == value).sum() == mask_count(length)
        assert (row[: BIG - length] == 0).all()  # the padding stays 0
        keep = tail != value
        assert (tail[keep] == np.arange(1, length + 1)[keep]).all()


@pytest.mark.parametrize("op", ["mask", "reorder"])
def test_mask_and_reorder_truncate_to_the_last_max_len(op: str) -> None:
    """The draws do not depend on max_len, so a short output is the tail of the long one."""
    full = apply(op, 120, 300, max_len=BIG, seed=11)
    short = apply(op, 120, 300, max_len=50, seed=11)
    assert (short == full[:, -50:]).all()
    if op == "mask":  # the full rows were checked to be valid masks above; their tails here mix 0s and items
        assert ((short == 0).sum(1) < 50).all() and ((short == 0).sum(1) > 0).all()


def test_mask_count_matches_the_original_float_arithmetic() -> None:
    for length in (90, 170, 180):
        rows = apply("mask", length, 5, seed=0, max_len=200)
        assert ((rows[:, 200 - length :] == 0).sum(1) == int(0.7 * length)).all(), length


# ---------------------------------------------------------------------------------------------- reorder


@pytest.mark.parametrize("length", LENGTHS)
def test_reorder_permutes_one_window_of_floor_beta_L_items(length: int) -> None:
    rows = apply("reorder", length, 2000, seed=length)
    win = crop_len(length)
    identity = np.arange(1, length + 1)
    changed_any = 0
    touched = set()
    for row in rows:
        assert (row[: BIG - length] == 0).all()
        tail = row[BIG - length :]
        assert sorted(tail.tolist()) == identity.tolist()  # the multiset is unchanged
        changed = np.flatnonzero(tail != identity)
        if len(changed) == 0:
            continue
        changed_any += 1
        lo, hi = changed.min(), changed.max()
        # some window [s, s + win) with 0 <= s <= L - win - 1 holds every moved item
        assert hi - lo + 1 <= win
        assert max(0, hi - win + 1) <= min(lo, length - win - 1)
        touched.update(changed.tolist())
    if win < 2:
        assert changed_any == 0  # a window of 0 or 1 items cannot move anything
    else:
        assert changed_any > len(rows) // 3
        assert min(touched) == 0 and max(touched) == length - 2  # the last item never moves


# ------------------------------------------------------------------------------------ many users at once


def test_mixed_users_lengths_and_ops_in_one_call() -> None:
    """Each row is augmented from its own slice of the flat item array with its own operator."""
    rng = np.random.default_rng(4)
    lengths = np.array([1, 2, 4, 5, 10, 37, 12, 7, 3, 20] * 6)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    items = np.concatenate([1000 * (u + 1) + np.arange(1, n + 1) for u, n in enumerate(lengths)])
    ops = rng.integers(0, 3, len(lengths))
    out = augment_views(items, starts, lengths, ops, AugmentConfig(), 40, np.random.default_rng(9)).numpy()
    for u, (n, op, row) in enumerate(zip(lengths, ops, out)):
        seq = 1000 * (u + 1) + np.arange(1, n + 1)
        nz = row[row != 0]
        assert set(nz.tolist()) <= set(seq.tolist())
        if OPS[op] == "crop":
            assert len(nz) == max(crop_len(n), 1) and (np.diff(nz) == 1).all()
        elif OPS[op] == "mask":
            tail = row[40 - n :]
            assert (tail == 0).sum() == mask_count(n) and (row[: 40 - n] == 0).all()
            assert ((tail == 0) | (tail == seq)).all()
        else:
            assert sorted(row[40 - n :].tolist()) == seq.tolist()


# ------------------------------------------------------------------------------------------ operator draws


def test_each_view_draws_each_operator_uniformly_and_independently() -> None:
    n = 30000
    first, second = draw_ops(n, AugmentConfig(), np.random.default_rng(0))
    assert set(first.tolist()) == set(second.tolist()) == {0, 1, 2}
    for view in (first, second):
        assert np.allclose(np.bincount(view, minlength=3) / n, 1 / 3, atol=0.015)
    joint = np.zeros((3, 3))
    np.add.at(joint, (first, second), 1)
    assert np.allclose(joint / n, 1 / 9, atol=0.01)  # same-op pairs included, as the original's Random
    assert np.diag(joint).sum() / n == pytest.approx(1 / 3, abs=0.015)


def test_distinct_pair_never_draws_the_same_operator_twice() -> None:
    n = 30000
    first, second = draw_ops(n, AugmentConfig(distinct_pair=True), np.random.default_rng(1))
    assert (first != second).all()
    joint = np.zeros((3, 3))
    np.add.at(joint, (first, second), 1)
    off = ~np.eye(3, dtype=bool)
    assert np.allclose(joint[off] / n, 1 / 6, atol=0.012)
    for view in (first, second):
        assert np.allclose(np.bincount(view, minlength=3) / n, 1 / 3, atol=0.015)


def test_restricted_operator_set() -> None:
    first, second = draw_ops(3000, AugmentConfig(ops=("crop", "reorder")), np.random.default_rng(2))
    assert set(first.tolist()) == set(second.tolist()) == {OPS.index("crop"), OPS.index("reorder")}


# -------------------------------------------------------------------------------- views from the epoch builder


def test_epoch_views_come_from_each_users_untruncated_training_input() -> None:
    """Views augment ``s[:-3]`` of the right user, before the cut to max_len (a crop can reach early items)."""
    long_user = list(range(1, 44))  # train input 1..40 (40 items) with max_len 10
    seqs = [long_user] + [[100 + 10 * u + i for i in range(3 + u % 6)] for u in range(1, 12)]
    data = SequenceData.from_lists(seqs, max_len=10)
    builder = EpochBuilder(data, batch_size=5, negatives=False, augment=AugmentConfig())
    early_seen = False
    for epoch in range(12):
        for batch in builder.epoch(seed=3, epoch=epoch):
            assert batch.views is not None and batch.target_neg is None
            for row_idx, user in enumerate(batch.users.tolist()):
                train_input = set(seqs[user][:-3])
                for view in batch.views:
                    nz = set(view[row_idx][view[row_idx] != 0].tolist())
                    assert nz <= train_input, (user, nz)
                    if user == 0 and nz and min(nz) <= 30:  # outside the last 10 (31..40) of the train input
                        early_seen = True
    assert early_seen


# ---------------------------------------------------------------------------------------------- negatives

NEG_SEQS = [
    [1, 2, 3, 4, 5, 6, 7],  # the last two (6, 7: valid and test targets) must be excluded too
    [8, 1, 2, 3],
    [2, 4, 6, 8, 1, 3],
    [5, 5, 5, 5],  # repeats
    [3, 1, 4, 1, 5, 9 - 1, 2, 6],
]


def test_negatives_avoid_the_full_sequence_and_cover_the_rest_uniformly() -> None:
    data = SequenceData.from_lists(NEG_SEQS, max_len=6)
    item_size = data.item_size
    assert item_size == 10  # items 1..8, pad 0, mask id 9
    sampler = NegativeSampler(data)
    order = np.array([3, 0, 4, 1, 2])  # a shuffled user order, as the epoch builder passes it
    targets = data.train_targets[order]
    counts = {u: np.zeros(item_size, dtype=np.int64) for u in range(len(NEG_SEQS))}
    for seed in range(300):
        negs = sampler.sample(order, targets, np.random.default_rng(seed))
        assert negs.shape == targets.shape and negs.dtype == torch.int64
        assert ((negs == 0) == (targets == 0)).all()  # 0 exactly where the target is padding
        for row, user in enumerate(order):
            drawn = negs[row][targets[row] > 0].numpy()
            np.add.at(counts[user], drawn, 1)
    for user, seq in enumerate(NEG_SEQS):
        allowed = sorted(set(range(1, item_size)) - set(seq))  # [1, item_size - 1] minus the full sequence
        got = counts[user]
        assert got[0] == 0 and set(np.flatnonzero(got).tolist()) == set(allowed), user
        share = got[allowed] / got.sum()
        assert np.allclose(share, 1 / len(allowed), atol=0.35 / len(allowed)), (user, share)
    assert sum(c[item_size - 1] for c in counts.values()) > 0  # the mask id can be drawn


def test_negatives_with_a_single_allowed_item() -> None:
    data = SequenceData.from_lists([[1, 2, 3, 4, 5, 6], [7, 1, 2]], max_len=4)  # item_size 9, mask id 8
    negs = NegativeSampler(data).sample(np.array([0]), data.train_targets[:1], np.random.default_rng(0))
    tgt = data.train_targets[:1]
    assert (negs[tgt > 0] >= 7).all() and set(negs[tgt > 0].tolist()) <= {7, 8}
    assert (negs[tgt == 0] == 0).all()
