"""Tests for full-ranking evaluation (method doc §3.3) with a fake score function over a fixed score matrix.

Ranks are 0-based: the number of items scored above the target (plus, under ``pessimistic`` ties, the items
scored exactly equal). HR@K = 1[rank < K], NDCG@K = 1[rank < K] / log2(rank + 2). All expected ranks below were
worked out by hand on the 8-id table (pad 0, items 1..6, mask id 7).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from elcrec.data.sequences import EvalSplit
from elcrec.errors import HarnessError
from elcrec.evaluate import metrics_from_ranks, rank_targets

ITEM_SIZE = 8
NEG_INF = float("-inf")

# user 0: target 3, history [1, 2]          no ties with the target under any rule
# user 1: target 4, history [3, 4, 5]       the target is in the history (Yelp-style repeat)
# user 2: target 5, history [6]             items 1, 2, 4, 7 tie exactly with the target (0.25)
SCORES = [
    [0.5, 0.9, 0.8, 0.3, -0.2, 0.6, 0.1, 0.7],
    [-0.1, 0.4, -0.5, 0.2, 0.9, 0.3, -0.3, 0.05],
    [0.0, 0.25, 0.25, -0.1, 0.25, 0.25, 0.75, 0.25],
]
TARGETS = [3, 4, 5]
HISTORY = [[1, 2], [3, 4, 5], [6]]

# (history rule, tie rule) -> ranks, by hand:
#  none:    u0 > 0.3: ids 0,1,2,5,7 -> 5 | u1 nothing above 0.9 -> 0
#           u2 above 0.25: id 6 -> optimistic 1; >= 0.25: 1,2,4,5,6,7 minus itself -> pessimistic 5
#  zero:    u0 [.5 0 0 .3 -.2 .6 .1 .7] -> 0,5,7 -> 3
#           u1 [-.1 .4 -.5 0 0 0 -.3 .05], target 0: > 0: 1,7 -> 2; >= 0: 1,3,4,5,7 minus itself -> 4
#           u2 [0 .25 .25 -.1 .25 .25 0 .25]: > .25 none -> 0; >= .25: 1,2,4,5,7 minus itself -> 4
#  neg_inf: u0 [-inf -inf -inf .3 -.2 .6 .1 -inf] -> 5 -> 1
#           u1 [-inf .4 -.5 -inf -inf -inf -.3 -inf], target -inf: > -inf: 1,2,6 -> 3; all 8 minus itself -> 7
#           u2 [-inf .25 .25 -.1 .25 .25 -inf -inf]: optimistic 0; >= .25: 1,2,4,5 minus itself -> 3
EXPECTED = {
    ("none", "pessimistic"): [5, 0, 5],
    ("none", "optimistic"): [5, 0, 1],
    ("zero", "pessimistic"): [3, 4, 4],
    ("zero", "optimistic"): [3, 2, 0],
    ("neg_inf", "pessimistic"): [1, 7, 3],
    ("neg_inf", "optimistic"): [1, 3, 0],
}


def make_split(inputs: list[list[int]], targets: list[int], history: list[list[int]]) -> EvalSplit:
    ptr = [0]
    for h in history:
        ptr.append(ptr[-1] + len(h))
    return EvalSplit(
        inputs=torch.tensor(inputs, dtype=torch.int64),
        targets=torch.tensor(targets, dtype=torch.int64),
        history_ptr=np.array(ptr, dtype=np.int64),
        history_items=np.array([i for h in history for i in h], dtype=np.int64),
    )


class FixedScores:
    """score(input_ids) -> the fixed rows of ``matrix`` for the users whose input rows were passed in.

    Each user's input row is unique, so the user is found by matching the row; every call returns a fresh
    tensor, so the evaluator's in-place history filtering cannot leak between calls. ``calls`` records batch sizes.
    """

    def __init__(self, split: EvalSplit, matrix: list[list[float]]) -> None:
        self.keys = [tuple(r) for r in split.inputs.tolist()]
        assert len(set(self.keys)) == len(self.keys)
        self.matrix = torch.tensor(matrix, dtype=torch.float32)
        self.calls: list[int] = []

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.calls.append(int(input_ids.shape[0]))
        rows = [self.keys.index(tuple(r)) for r in input_ids.tolist()]
        return self.matrix[rows].clone()


@pytest.fixture
def split() -> EvalSplit:
    return make_split([[0, 1, 2], [3, 4, 5], [0, 0, 6]], TARGETS, HISTORY)


# ------------------------------------------------------------------------------------------ rules and ties


@pytest.mark.parametrize(("history", "ties"), list(EXPECTED))
def test_ranks_by_hand(split: EvalSplit, history: str, ties: str) -> None:
    result = rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE, history=history, ties=ties)
    assert result.ranks.tolist() == EXPECTED[(history, ties)]


def test_defaults_are_zero_and_pessimistic(split: EvalSplit) -> None:
    result = rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE)
    assert result.ranks.tolist() == EXPECTED[("zero", "pessimistic")]


def naive_ranks(
    matrix: list[list[float]], targets: list[int], history: list[list[int]], rule: str, ties: str
) -> list[int]:
    """The protocol written as a plain loop, for the randomised cross-check."""
    ranks = []
    for row, target, hist in zip(matrix, targets, history):
        s = list(row)
        if rule != "none":
            for i in hist:
                s[i] = 0.0 if rule == "zero" else NEG_INF
        if rule == "neg_inf":
            s[0] = s[-1] = NEG_INF
        t = s[target]
        if ties == "pessimistic":
            ranks.append(sum(1 for j, v in enumerate(s) if v > t or (v == t and j != target)))
        else:
            ranks.append(sum(1 for v in s if v > t))
    return ranks


@pytest.mark.parametrize("rule", ["zero", "neg_inf", "none"])
@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
def test_random_scores_with_ties_match_naive_loop(rule: str, ties: str) -> None:
    rng = np.random.default_rng(1)
    users, item_size = 30, 12
    # scores drawn from a few values (0 among them) so exact ties, and ties with zeroed history, are common
    matrix = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=(users, item_size)).tolist()
    targets = rng.integers(1, item_size - 1, size=users).tolist()
    history = [rng.integers(1, item_size - 1, size=int(rng.integers(0, 5))).tolist() for _ in range(users)]
    inputs = [[u, u + 1] for u in range(users)]
    split = make_split(inputs, targets, history)
    result = rank_targets(FixedScores(split, matrix), split, item_size, history=rule, ties=ties, batch_size=7)
    assert result.ranks.tolist() == naive_ranks(matrix, targets, history, rule, ties)


# ------------------------------------------------------------------------------------------------ metrics


def test_metrics_by_hand_at_every_cutoff() -> None:
    """Target ranks 0, 4, 5, 9, 10, 19, 20, 29 straddle every cutoff of HR/NDCG@5/10/20."""
    wanted = [0, 4, 5, 9, 10, 19, 20, 29]
    item_size = 32
    matrix, targets = [], []
    for u, r in enumerate(wanted):
        target = 1 + u  # any id; history rule "none" below
        row = [-1.0] * item_size
        row[target] = 0.0
        others = [j for j in range(item_size) if j != target][:r]
        for j in others:
            row[j] = 1.0
        matrix.append(row)
        targets.append(target)
    split = make_split([[u] for u in range(len(wanted))], targets, [[] for _ in wanted])
    result = rank_targets(FixedScores(split, matrix), split, item_size, history="none")
    assert result.ranks.tolist() == wanted

    n = len(wanted)
    expected = {
        "HR@5": 2 / n,  # ranks 0, 4
        "HR@10": 4 / n,  # + 5, 9
        "HR@20": 6 / n,  # + 10, 19
        "NDCG@5": (1 / math.log2(2) + 1 / math.log2(6)) / n,
        "NDCG@10": (1 / math.log2(2) + 1 / math.log2(6) + 1 / math.log2(7) + 1 / math.log2(11)) / n,
        "NDCG@20": (1 / math.log2(2) + 1 / math.log2(6) + 1 / math.log2(7) + 1 / math.log2(11)
                    + 1 / math.log2(12) + 1 / math.log2(21)) / n,
    }
    metrics = result.metrics
    assert set(metrics) == set(expected)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-12), key
    # numeric sanity of the hand formula: 1/log2(6) = 0.38685..., so NDCG@5 = 1.38685.../8
    assert metrics["NDCG@5"] == pytest.approx(0.173356601, abs=1e-9)


def test_metrics_of_the_zero_rule_table(split: EvalSplit) -> None:
    metrics = rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE).metrics  # ranks 3, 4, 4
    assert metrics["HR@5"] == 1.0 and metrics["HR@10"] == 1.0 and metrics["HR@20"] == 1.0
    ndcg = (1 / math.log2(5) + 2 / math.log2(6)) / 3
    assert ndcg == pytest.approx(0.401460724, abs=1e-9)
    for k in (5, 10, 20):
        assert metrics[f"NDCG@{k}"] == pytest.approx(ndcg, abs=1e-12)


def test_metrics_from_ranks_direct() -> None:
    m = metrics_from_ranks(np.array([0, 1, 7, 15, 30]))
    assert m["HR@5"] == pytest.approx(2 / 5)
    assert m["HR@10"] == pytest.approx(3 / 5)
    assert m["HR@20"] == pytest.approx(4 / 5)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3)) / 5)
    assert m["NDCG@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(9) + 1 / math.log2(17)) / 5)


def test_per_user_frame(split: EvalSplit) -> None:
    frame = rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE, history="none", ties="optimistic").per_user()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["user", "rank", "HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"]
    assert len(frame) == 3
    assert frame["user"].tolist() == [0, 1, 2]
    assert frame["rank"].tolist() == [5, 0, 1]
    assert frame["HR@5"].tolist() == [0.0, 1.0, 1.0]
    assert frame["HR@10"].tolist() == [1.0, 1.0, 1.0]
    assert frame["NDCG@5"].tolist() == pytest.approx([0.0, 1.0, 1 / math.log2(3)])
    assert frame["NDCG@20"].tolist() == pytest.approx([1 / math.log2(7), 1.0, 1 / math.log2(3)])


# ------------------------------------------------------------------------------------------------ batching


@pytest.mark.parametrize("batch_size", [1, 2, 3, 512])
@pytest.mark.parametrize(("history", "ties"), [("zero", "pessimistic"), ("neg_inf", "optimistic")])
def test_batching_gives_identical_ranks(split: EvalSplit, batch_size: int, history: str, ties: str) -> None:
    fake = FixedScores(split, SCORES)
    result = rank_targets(fake, split, ITEM_SIZE, history=history, ties=ties, batch_size=batch_size)
    assert result.ranks.tolist() == EXPECTED[(history, ties)]
    assert fake.calls == {1: [1, 1, 1], 2: [2, 1], 3: [3], 512: [3]}[batch_size]


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_scores_raise(split: EvalSplit, bad: float) -> None:
    matrix = [list(r) for r in SCORES]
    matrix[2][4] = bad
    with pytest.raises(HarnessError, match="NaN/inf"):
        rank_targets(FixedScores(split, matrix), split, ITEM_SIZE, batch_size=2)


def test_nan_in_a_history_item_still_raises(split: EvalSplit) -> None:
    """A NaN where the history rule would overwrite it is still a broken model and must not be hidden."""
    matrix = [list(r) for r in SCORES]
    matrix[0][1] = float("nan")  # item 1 is in user 0's history
    with pytest.raises(HarnessError):
        rank_targets(FixedScores(split, matrix), split, ITEM_SIZE, history="zero")


def test_unknown_history_rule(split: EvalSplit) -> None:
    with pytest.raises(HarnessError) as err:
        rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE, history="minus_inf")
    assert "'minus_inf'" in str(err.value) and "zero, neg_inf, none" in str(err.value)


def test_unknown_tie_rule(split: EvalSplit) -> None:
    with pytest.raises(HarnessError) as err:
        rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE, ties="random")
    assert "'random'" in str(err.value) and "pessimistic, optimistic" in str(err.value)


def test_wrong_score_shape(split: EvalSplit) -> None:
    with pytest.raises(HarnessError, match="shape"):
        rank_targets(FixedScores(split, SCORES), split, ITEM_SIZE + 1)


# ------------------------------------------------------------------------------- in-place filtering (bugs)


@pytest.mark.filterwarnings("ignore:Use of index_put_ on expanded tensors")
def test_expanded_score_rows_do_not_leak_history_between_users() -> None:
    pop = torch.tensor([0.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.0])
    # user 0: history [1], target 2; user 1: history [3], target 1
    split = make_split([[0, 1], [0, 3]], [2, 1], [[1], [3]])

    def popularity(input_ids: torch.Tensor) -> torch.Tensor:
        return pop.expand(input_ids.shape[0], ITEM_SIZE)

    # by hand, zero rule: u0 [0 0 .8 .7 .6 .5 .4 0] -> target .8 first -> 0; u1 [0 .9 .8 0 .6 .5 .4 0] -> 0
    result = rank_targets(popularity, split, ITEM_SIZE, history="zero")
    assert result.ranks.tolist() == [0, 0]
    assert pop.tolist() == pytest.approx([0.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.0])


def test_score_tensor_returned_by_the_callable_is_not_modified(split: EvalSplit) -> None:
    cached = torch.tensor(SCORES, dtype=torch.float32)
    original = cached.clone()
    position = {"next": 0}

    def cached_scores(input_ids: torch.Tensor) -> torch.Tensor:  # users arrive in order: return slices
        lo = position["next"]
        position["next"] += int(input_ids.shape[0])
        return cached[lo : lo + int(input_ids.shape[0])]

    rank_targets(cached_scores, split, ITEM_SIZE, history="neg_inf")
    position["next"] = 0
    again = rank_targets(cached_scores, split, ITEM_SIZE, history="none", ties="pessimistic")
    assert torch.equal(cached, original)
    assert again.ranks.tolist() == EXPECTED[("none", "pessimistic")]
