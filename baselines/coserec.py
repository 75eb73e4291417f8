"""CoSeRec: Contrastive Self-supervised sequential Recommendation with robust augmentation (Liu et al. 2021).

Follows the official code, YChen1993/CoSeRec @692cb41 (``src/main.py``, ``src/trainers.py`` ``CoSeRecTrainer``,
``src/data_augmentation.py``, ``src/models.py`` ``OfflineItemSimilarity``/``OnlineItemSimilarity``,
``src/{beauty,sports,yelp}.sh``); method doc §5.3. Per training step:

1. ``seq_out = enc(input_ids)``; SASRec BCE with one negative per position (``rec``);
2. two augmented views of the training input ``s[:-3]``, encoded in one batch of 2B, outputs flattened
   (50 x 64), NT-Xent with dot products and temperature 1 (``seq_cl``, ``cf_weight`` 0.1);
3. ``L = rec + 0.1 seq_cl``.

Views (``data_augmentation.Random`` with ``augment_threshold`` > 0, as every script): each view draws one operator
uniformly from a set chosen by the length L of the untruncated ``s[:-3]``:

* L > ``augment_threshold`` (default 4): {Insert, Crop, Mask, Reorder, Substitute};
* L <= threshold: ``augment_type_for_short`` (default ``SIM`` = {Insert, Substitute, Mask}; ``SI``, ``SIR``,
  ``SIC``, ``SIMR``, ``SIMC``, ``SIRC``; anything else, e.g. Beauty's ``SIMRC``, = all five);
* ``augment_threshold = -1``: all five for every length.

Crop keeps ``int(0.2 L)`` items, Mask sets ``int(0.7 L)`` items to the pad id 0, Reorder shuffles a span of
``int(0.7 L)`` (the code builds it with ``beta=gamma`` whenever a threshold is set; ``beta`` only for -1),
Insert puts the most similar item before each of ``max(int(0.4 L), 1)`` random positions, Substitute replaces
``max(int(0.1 L), 1)`` random items by their most similar item.

Item similarity: offline ItemCF-IUF on the training parts ``s[:-3]`` (co-occurrence weighted by
``1 / log(1 + |items of the user|)``, divided by ``sqrt(N_i N_j)``) until epoch ``augmentation_warm_up_epochs``
(default 160); afterwards (epoch > warm-up) a hybrid: per item, the offline top-1 and the top-1 of the current
item embeddings' dot products (min-max normalised over all pairs, the item itself removed) compete, and the
higher normalised score wins (ties to offline). ``max_insert_num_per_pos`` is 1 in the code and every script,
so both informed operators use the top-1 item only, and the hybrid choice is a per-item lookup table rebuilt at
every epoch start (``on_epoch_start``). The views of the whole epoch are drawn there too, vectorised, from a
generator seeded by (run seed, epoch), and batches take their rows by ``batch.users``; the model therefore sets
``augment = None`` (the shared EpochBuilder knows no informed operators).

Per-dataset settings (config/models/coserec.yaml, from the scripts): Beauty threshold 12, warm-up 220, short set
SIMRC (= all five), insert 0.5, substitute 0.05; Yelp warm-up 300 (never reached in 300 epochs), insert 0.5;
Sports the defaults; Toys, ml-1m, MIND-small have no script (defaults). 2 layers everywhere (no script sets it).
Protocol = ELCRec's (batch 256, 300 epochs, patience 40).

Deliberate deviations from the original code:

* random draws come from numpy generators seeded by (seed, epoch), not Python's ``random``: same distributions,
  other samples; the offline similarity is recomputed from the data (the original caches a pickle);
* offline ties: the original sorts a dict by score, so among equal scores the neighbour first met in file order
  wins; we reproduce that order (first co-occurring user, then position in that user's sequence);
  online ties follow ``torch.topk``;
* an item with no offline neighbour gets a random neighbour (score 0) per occurrence in the original; here one
  random neighbour per item and epoch;
* only the ItemCF_IUF (default) and ItemCF similarities; Item2Vec, LightGCN and Random are not implemented, and
  ``max_insert_num_per_pos`` is fixed at 1 (the code default and every script);
* the unused projection head is left out; the seed is the run seed; evaluation is the shared evaluator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from elcrec.data.augment import OPS, AugmentConfig, augment_views, pack_last
from elcrec.data.batches import Batch
from elcrec.data.sequences import SequenceData
from elcrec.models.base import EncoderConfig, RecModel, TrainContext
from elcrec.nn.losses import bce_next_item, nce_loss

OPERATORS = ("insert", "crop", "mask", "reorder", "substitute")
SHORT_SETS = {
    "SI": ("insert", "substitute"),
    "SIM": ("insert", "substitute", "mask"),
    "SIR": ("insert", "substitute", "reorder"),
    "SIC": ("insert", "substitute", "crop"),
    "SIMR": ("insert", "substitute", "mask", "reorder"),
    "SIMC": ("insert", "substitute", "mask", "crop"),
    "SIRC": ("insert", "substitute", "reorder", "crop"),
}  # any other value: all five (the original's fall-through branch)
VIEW_STREAM = 11  # generator stream of the views (the EpochBuilder uses stream 0)


@dataclass
class CoSeRecConfig(EncoderConfig):
    tau: float = 0.2  # "tao": crop keeps this fraction
    gamma: float = 0.7  # mask this fraction (to 0); also the reorder fraction whenever a threshold is set
    beta: float = 0.2  # reorder fraction, used only with augment_threshold = -1
    insert_rate: float = 0.4
    substitute_rate: float = 0.1
    augment_threshold: int = 4  # -1: every operator for every length
    augment_type_for_short: str = "SIM"
    augmentation_warm_up_epochs: float = 160  # hybrid similarity from epoch > this
    similarity_model_name: str = "ItemCF_IUF"  # ItemCF_IUF | ItemCF
    cf_weight: float = 0.1
    rec_weight: float = 1.0
    temperature: float = 1.0

    def validate(self) -> None:
        if self.similarity_model_name not in ("ItemCF_IUF", "ItemCF"):
            raise ValueError("similarity_model_name must be 'ItemCF_IUF' or 'ItemCF' (Item2Vec, LightGCN and Random "
                             f"are not implemented), not {self.similarity_model_name!r}")
        if self.augment_threshold < 1 and self.augment_threshold != -1:
            raise ValueError(f"augment_threshold must be -1 or positive, not {self.augment_threshold}")


# --- item similarity -------------------------------------------------------------------------------------
def offline_top1(data: SequenceData, iuf: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """ItemCF(-IUF) top-1 neighbour and its min-max normalised score per item id (-1 / 0 where none).

    Built on every user's training part ``s[:-3]`` as a set (a repeated item counts once); ties keep the
    original's dict order: the neighbour met first (earliest co-occurring user, then its position there).
    """
    users, items, first_pos = [], [], []
    for u in range(data.num_users):
        seq = data.items[data.offsets[u] : data.offsets[u + 1] - 3]
        uniq, idx = np.unique(seq, return_index=True)
        users.append(np.full(len(uniq), u))
        items.append(uniq)
        first_pos.append(idx)
    u_arr, i_arr, p_arr = np.concatenate(users), np.concatenate(items), np.concatenate(first_pos)
    n_items = data.item_size
    x = sp.csr_matrix((np.ones(len(u_arr)), (u_arr, i_arr)), shape=(data.num_users, n_items))
    per_user = np.asarray(x.sum(1)).ravel()
    weight = np.ones_like(per_user)
    if iuf:  # 1 / log(1 + |items|); a user without training items contributes nothing
        weight = np.divide(1.0, np.log1p(per_user), out=np.zeros_like(per_user), where=per_user > 0)
    coo = (x.T @ sp.diags(weight) @ x).tocoo()
    off = coo.row != coo.col
    row, col, co = coo.row[off], coo.col[off], coo.data[off]
    counts = np.asarray(x.sum(0)).ravel()
    sim = sp.csr_matrix((co / np.sqrt(counts[row] * counts[col]), (row, col)), shape=(n_items, n_items))
    best = np.full(n_items, -1, dtype=np.int64)
    score = np.zeros(n_items)
    if sim.nnz == 0:
        return best, score
    lo, hi = sim.data.min(), sim.data.max()
    by_item = np.argsort(i_arr, kind="stable")  # users of each item, in file order
    user_lists = np.split(u_arr[by_item], np.cumsum(np.bincount(i_arr, minlength=n_items))[:-1])
    pos_of = {(int(u), int(i)): int(p) for u, i, p in zip(u_arr, i_arr, p_arr)}
    for i in np.flatnonzero(np.diff(sim.indptr)):
        row = slice(sim.indptr[i], sim.indptr[i + 1])
        values, cols = sim.data[row], sim.indices[row]
        cands = cols[values == values.max()]
        if len(cands) > 1:  # the original's order: first co-occurring user, then position in that user
            users_i = user_lists[i]
            keys = []
            for j in cands:
                first_user = int(np.intersect1d(users_i, user_lists[j], assume_unique=True)[0])
                keys.append((first_user, pos_of[(first_user, int(j))]))
            cands = cands[[min(range(len(keys)), key=keys.__getitem__)]]
        best[i] = cands[0]
        score[i] = (values.max() - lo) / (hi - lo) if hi > lo else 0.0
    return best, score


@torch.no_grad()
def online_top1(emb: torch.Tensor, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Per item id: the row with the largest dot product other than itself, and its min-max normalised score.

    As the original ``OnlineItemSimilarity``: candidates are all rows (pad and mask id included), the
    normalisation uses the min and max over rows 1..item_size-1 against all rows, and the item is removed from
    its own top-2.
    """
    n = emb.shape[0]
    lo, hi = float("inf"), float("-inf")
    top_val = torch.empty(n, 2)
    top_idx = torch.empty(n, 2, dtype=torch.long)
    for start in range(0, n, chunk):
        block = emb[start : start + chunk] @ emb.T
        rows = torch.arange(start, min(start + chunk, n))
        valid = block[rows > 0]
        if valid.numel():
            lo, hi = min(lo, float(valid.min())), max(hi, float(valid.max()))
        top_val[rows], top_idx[rows] = block.topk(2, dim=1)
    self_first = top_idx[:, 0] == torch.arange(n)
    best = torch.where(self_first, top_idx[:, 1], top_idx[:, 0])
    value = torch.where(self_first, top_val[:, 1], top_val[:, 0])
    score = (value - lo) / (hi - lo) if hi > lo else torch.zeros(n)
    return best.numpy(), score.double().numpy()


# --- informed operators, vectorised ------------------------------------------------------------------
def informed_views(items: np.ndarray, starts: np.ndarray, lengths: np.ndarray, insert: np.ndarray, rate: np.ndarray,
                   neighbour: np.ndarray, max_len: int, rng: np.random.Generator) -> torch.Tensor:
    """Insert (``insert[i]`` True) or Substitute each sequence with ``max(int(rate * L), 1)`` random positions."""
    n = len(starts)
    seg = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(seg)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    values = items[np.repeat(starts, lengths) + pos]
    n_pick = np.maximum(np.floor(rate * lengths).astype(np.int64), 1)
    order = np.lexsort((rng.random(len(seg)), seg))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - np.searchsorted(seg[order], seg[order])
    picked = rank < n_pick[seg]
    similar = neighbour[values]
    is_insert = insert[seg]
    values = np.where(picked & ~is_insert, similar, values)  # substitute in place
    grow = (picked & is_insert).astype(np.int64)  # insert: one extra slot before the item
    slot = np.arange(len(seg)) + np.cumsum(grow)  # where each original item lands
    out = np.empty(len(seg) + grow.sum(), dtype=np.int64)
    out_seg = np.empty_like(out)
    out[slot], out_seg[slot] = values, seg
    ins = np.flatnonzero(grow)
    out[slot[ins] - 1], out_seg[slot[ins] - 1] = similar[ins], seg[ins]
    return pack_last(out, out_seg, n, max_len)


class CoSeRec(RecModel):
    name = "coserec"
    capture_blocker = None  # reviewed: the step reads fixed storage only (elcrec/steps.py)
    needs_negatives = True
    augment = None  # the views are drawn by the model itself (informed operators), see on_epoch_start

    def __init__(self, item_size: int, cfg: CoSeRecConfig) -> None:
        super().__init__(item_size, cfg)
        self.loss_weights = {"rec": cfg.rec_weight, "seq_cl": cfg.cf_weight}
        self.offline: tuple[np.ndarray, np.ndarray] | None = None
        self._offline_data: SequenceData | None = None
        self.neighbour: np.ndarray | None = None  # the epoch's top-1 similar item per item id
        self.views: tuple[torch.Tensor, torch.Tensor] | None = None  # the epoch's two views of every user

    # --- per-epoch similarity and views ------------------------------------------------------------------
    def similarity_table(self, ctx: TrainContext, rng: np.random.Generator) -> np.ndarray:
        if self.offline is None or self._offline_data is not ctx.data:  # once per run: the training data are fixed
            self.offline = offline_top1(ctx.data, iuf=self.cfg.similarity_model_name == "ItemCF_IUF")
            self._offline_data = ctx.data
        best, score = self.offline
        known = np.unique(best[best >= 0])
        best = best.copy()
        unknown = best < 0  # the original draws a random known item (score 0) for an item without neighbours
        if known.size:
            best[unknown] = rng.choice(known, size=int(unknown.sum()))
        else:
            best[unknown] = np.arange(len(best))[unknown]
        if ctx.epoch > self.cfg.augmentation_warm_up_epochs:
            online, online_score = online_top1(self.encoder.item_embeddings.weight.detach().float().cpu())
            best = np.where(score >= online_score, best, online)
        return best

    def operator_sets(self, lengths: np.ndarray) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        """Index of the operator set of each sequence, and the sets."""
        if self.cfg.augment_threshold == -1:
            return np.zeros(len(lengths), dtype=np.int64), [OPERATORS]
        short = SHORT_SETS.get(self.cfg.augment_type_for_short, ("insert", "substitute", "crop", "mask", "reorder"))
        return (lengths <= self.cfg.augment_threshold).astype(np.int64), [OPERATORS, short]

    def draw_views(self, data: SequenceData, neighbour: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """One view of every user's ``s[:-3]``: (num_users, max_len)."""
        starts, lengths = data.offsets[:-1], data.lengths - 3
        which, sets = self.operator_sets(lengths)
        sizes = np.array([len(ops) for ops in sets])
        choice = np.floor(rng.random(len(lengths)) * sizes[which]).astype(np.int64)  # uniform within the set
        table = np.array([list(ops) + [""] * (len(OPERATORS) - len(ops)) for ops in sets])
        chosen = table[which, choice]
        reorder = self.cfg.beta if self.cfg.augment_threshold == -1 else self.cfg.gamma
        basic_cfg = AugmentConfig(tau=self.cfg.tau, gamma=self.cfg.gamma, beta=reorder, mask_value=0)
        out = torch.zeros(len(lengths), data.max_len, dtype=torch.int64)
        basic = np.flatnonzero(np.isin(chosen, ("crop", "mask", "reorder")))
        if basic.size:
            ops = (chosen[basic][:, None] == np.array(OPS)[None, :]).argmax(1)  # index into augment.OPS
            out[basic] = augment_views(data.items, starts[basic], lengths[basic], ops, basic_cfg, data.max_len, rng)
        informed = np.flatnonzero(np.isin(chosen, ("insert", "substitute")))
        if informed.size:
            is_insert = chosen[informed] == "insert"
            rate = np.where(is_insert, self.cfg.insert_rate, self.cfg.substitute_rate)
            out[informed] = informed_views(data.items, starts[informed], lengths[informed], is_insert, rate,
                                           neighbour, data.max_len, rng)
        return out

    def on_epoch_start(self, ctx: TrainContext) -> None:
        rng = np.random.default_rng([ctx.seed, ctx.epoch, VIEW_STREAM])
        self.neighbour = self.similarity_table(ctx, rng)
        views = [self.draw_views(ctx.data, self.neighbour, rng).to(ctx.device) for _ in range(2)]
        if self.views is not None and self.views[0].shape == views[0].shape and self.views[0].device == ctx.device:
            for old, new in zip(self.views, views):  # the same storage every epoch: a captured step reads it
                old.copy_(new)
        else:
            self.views = (views[0], views[1])

    # --- loss --------------------------------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.views is None:
            raise RuntimeError("CoSeRec.loss needs the epoch's views: call on_epoch_start(ctx) first")
        enc = self.encoder
        assert batch.target_neg is not None
        seq_out = enc(batch.input_ids)
        terms = {"rec": bce_next_item(seq_out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight)}
        users = batch.users.to(self.views[0].device)  # the views live on the training device (no host sync)
        b = len(users)
        views = torch.cat([self.views[0][users], self.views[1][users]], 0).to(batch.input_ids.device)
        flat = enc(views).reshape(2 * b, -1)  # both views in one call of 2B, as the original
        terms["seq_cl"] = nce_loss(flat[:b], flat[b:], self.cfg.temperature)
        return terms
