"""Tests for the S3-Rec and BERT4Rec baselines (baselines/s3rec.py, baselines/bert4rec.py).

The pre-training objectives and the cloze loss are recomputed here with per-position Python loops and explicit
log/sigmoid formulas, from hidden states of a *separate* bidirectional ``SASRecEncoder`` (``causal=False``,
-10000 padding mask) that holds the model's weights; dropout is 0 and everything is float64, so the
comparisons are tight. The samplers are checked against the original's rules over many draws.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.bert4rec import BERT4Rec, BERT4RecConfig
from baselines.s3rec import (LENGTH_GROUPS, PretrainBatch, PretrainSampler, S3Rec, S3RecConfig, pretrain_groups,
                             read_item_attributes)
from elcrec.data import load_dataset
from elcrec.data.batches import EpochBuilder
from elcrec.data.sequences import SequenceData
from elcrec.errors import ConfigError, DataError
from elcrec.models.base import TrainContext
from elcrec.models.registry import build_model, resolve_config
from elcrec.nn.encoder import SASRecEncoder
from elcrec.train import TrainConfig, Trainer, run_phase
from interrupts import interrupt_training_at

DT = torch.float64
HIDDEN, MAX_LEN = 8, 6
# 5 users; items 1..14 -> item_size 16 (mask id 15). The first user is longer than max_len + 2.
SEQS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [3, 5, 7, 9], [11, 12, 13], [2, 4, 6, 8, 10, 12, 14], [14, 13, 1, 2, 5]]
ITEM_SIZE = 16
ATTRS = {"1": [1, 2], "2": [3], "3": [1, 4], "5": [2, 5], "7": [6], "8": [1], "9": [2, 3], "10": [4],
         "11": [5, 6], "12": [1], "13": [2], "14": [3, 6]}  # items 4 and 6 have none
ATTRIBUTE_SIZE = 7


def tiny_data() -> SequenceData:
    return SequenceData.from_lists(SEQS, max_len=MAX_LEN)


def attribute_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "synthetic"
    folder.mkdir(exist_ok=True)
    (folder / "item2attributes.json").write_text(json.dumps(ATTRS))
    return folder


def s3rec(**kw) -> S3Rec:
    base = dict(hidden=HIDDEN, layers=1, heads=2, max_len=MAX_LEN, attn_dropout=0.0, hidden_dropout=0.0,
                attribute_size=ATTRIBUTE_SIZE)
    base.update(kw)
    torch.manual_seed(0)
    return S3Rec(ITEM_SIZE, S3RecConfig(**base)).to(DT)


def bidirectional_reference(model, ids: torch.Tensor) -> torch.Tensor:
    """Hidden states from an independent bidirectional encoder holding the model's encoder weights."""
    enc = model.encoder
    ref = SASRecEncoder(enc.item_size, hidden=enc.hidden, layers=len(enc.item_encoder.layer), heads=2,
                        max_len=enc.max_len, attn_dropout=0.0, hidden_dropout=0.0, causal=False).to(DT)
    ref.load_state_dict(enc.state_dict())
    ref.eval()
    return ref(ids)


def sig(x: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-x))


def bce(p: torch.Tensor, y: float) -> torch.Tensor:
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p))


# ------------------------------------------------------------------------------------- S3-Rec: sampling


def original_prefixes(seqs: list[list[int]], max_len: int) -> list[list[int]]:
    """PretrainDataset.split_sequence, left-padded to max_len."""
    out = []
    for seq in seqs:
        window = seq[-(max_len + 2):-2]
        for i in range(len(window)):
            part = window[: i + 1]
            out.append([0] * (max_len - len(part)) + part)
    return out


def test_examples_are_all_prefixes_of_the_training_window() -> None:
    sampler = PretrainSampler(tiny_data(), MAX_LEN, 0.2)
    got = sampler.prefixes(np.arange(len(sampler))).tolist()
    assert got == original_prefixes(SEQS, MAX_LEN)
    assert sampler.lengths.tolist() == [sum(1 for x in row if x) for row in got]


def test_mip_mask_rate_last_position_and_negatives() -> None:
    data = tiny_data()
    sampler = PretrainSampler(data, MAX_LEN, 0.2)
    ids = np.tile(np.arange(len(sampler)), 400)
    rng = np.random.default_rng(0)
    batch = sampler.batch(ids, rng)
    pos, masked_in = batch.pos_items.numpy(), batch.masked_items.numpy()
    masked = masked_in == ITEM_SIZE - 1
    real = pos > 0
    assert masked[:, -1].all()  # the last position always
    assert not (masked & ~real).any()  # never a pad
    assert (masked_in[~masked] == pos[~masked]).all()
    others = real.copy()
    others[:, -1] = False
    rate = masked[others].mean()
    n = others.sum()
    assert abs(rate - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n), (rate, n)
    # negatives: in [1, item_size - 1], never in the prefix, the item itself where not masked
    neg = batch.neg_items.numpy()
    assert (neg[masked] >= 1).all() and (neg[masked] <= ITEM_SIZE - 1).all()
    for r, c in zip(*np.nonzero(masked)):
        assert neg[r, c] not in set(pos[r])
    assert (neg[~masked] == pos[~masked]).all()
    assert (neg[masked] == ITEM_SIZE - 1).any()  # the mask id can be drawn, as the original's neg_sample


def test_sp_segment_lengths_and_starts_follow_the_original() -> None:
    """len ~ U{1..L//2}, start ~ U{0..L-len}, negative start ~ U{0..|long|-len}; L = 1 gives no segment."""
    sampler = PretrainSampler(tiny_data(), MAX_LEN, 0.2)
    rng = np.random.default_rng(1)
    draws = 60_000
    for length in (2, 5, 6):
        seg, start, neg_start = sampler.segments(np.full(draws, length), rng)
        support = np.arange(1, length // 2 + 1)
        assert set(np.unique(seg)) == set(support)
        counts = np.array([(seg == k).sum() for k in support])
        expected = draws / len(support)
        assert np.abs(counts - expected).max() < 5 * math.sqrt(expected), counts
        for k in support:  # the start is uniform on 0..L-k given the length
            s = start[seg == k]
            assert set(np.unique(s)) == set(range(length - k + 1))
            freq = np.bincount(s) / len(s)
            assert np.abs(freq - 1 / (length - k + 1)).max() < 0.03
        assert neg_start.min() == 0 and (neg_start + seg).max() == len(sampler.long_sequence)
    seg, start, neg_start = sampler.segments(np.ones(10, dtype=np.int64), rng)
    assert (seg == 0).all()


def test_sp_inputs_are_built_as_the_original() -> None:
    data = tiny_data()
    sampler = PretrainSampler(data, MAX_LEN, 0.2)
    rng = np.random.default_rng(2)
    ids = np.tile(np.arange(len(sampler)), 20)
    state = rng.bit_generator.state
    batch = sampler.batch(ids, rng)
    # replay the draws in the same order to learn each row's segment
    rng.bit_generator.state = state
    lengths = sampler.lengths[ids]
    sampler.mip_mask(lengths, rng)
    sampler.negatives(sampler.prefixes(ids), rng)
    seg, start, neg_start = sampler.segments(lengths, rng)
    long = data.items.tolist()
    mask_id = ITEM_SIZE - 1
    for r in range(len(ids)):
        seq = [x for x in batch.pos_items[r].tolist() if x]
        n = len(seq)
        pad = [0] * (MAX_LEN - n)
        if n < 2:
            expect_ctx = expect_pos = expect_neg = seq
        else:
            k, s, ns = int(seg[r]), int(start[r]), int(neg_start[r])
            expect_ctx = seq[:s] + [mask_id] * k + seq[s + k:]
            expect_pos = [mask_id] * s + seq[s:s + k] + [mask_id] * (n - s - k)
            expect_neg = [mask_id] * s + long[ns:ns + k] + [mask_id] * (n - s - k)
        assert batch.masked_segment[r].tolist() == pad + expect_ctx
        assert batch.pos_segment[r].tolist() == pad + expect_pos
        assert batch.neg_segment[r].tolist() == pad + expect_neg


def test_item_attributes_are_read_as_multi_hot(tmp_path: Path) -> None:
    table = read_item_attributes(attribute_dir(tmp_path), ITEM_SIZE, ATTRIBUTE_SIZE)
    assert table.shape == (ITEM_SIZE, ATTRIBUTE_SIZE) and table.dtype == torch.bool
    for item in range(ITEM_SIZE):
        assert set(torch.nonzero(table[item]).flatten().tolist()) == set(ATTRS.get(str(item), []))
    with pytest.raises(ConfigError, match="attribute_size=7"):
        read_item_attributes(attribute_dir(tmp_path), ITEM_SIZE, 9)


def test_missing_attribute_file_raises_data_error_saying_what_to_do(tmp_path: Path) -> None:
    model = s3rec(pretrain_epochs=1)
    ctx = TrainContext(tiny_data(), torch.device("cpu"), 1, dataset_dir=tmp_path)
    with pytest.raises(DataError, match="item2attributes.json") as info:
        model.phases(ctx)  # the pre-training phase reads the attributes
    assert "download" in str(info.value) and "s3rec-noattr" in str(info.value)
    for phase in s3rec(use_attributes=False, pretrain_epochs=1).to(torch.float32).phases(ctx):  # no file needed
        run_phase(phase)


def test_datasets_without_attributes_need_the_noattr_variant() -> None:
    with pytest.raises(ConfigError, match="s3rec-noattr"):
        resolve_config("s3rec", "ml-1m")
    _, cfg = resolve_config("s3rec-noattr", "ml-1m")
    assert cfg.use_attributes is False


# ----------------------------------------------------------------------------------- S3-Rec: objectives


def fixed_batch(tmp_path: Path) -> PretrainBatch:
    data = tiny_data()
    table = read_item_attributes(attribute_dir(tmp_path), ITEM_SIZE, ATTRIBUTE_SIZE)
    sampler = PretrainSampler(data, MAX_LEN, 0.3, table)
    return sampler.batch(np.arange(len(sampler)), np.random.default_rng(5))


def reference_pretrain_terms(model: S3Rec, batch: PretrainBatch) -> dict[str, torch.Tensor]:
    mask_id = ITEM_SIZE - 1
    out = bidirectional_reference(model, batch.masked_items)
    attr_emb = model.attribute_embeddings.weight if model.cfg.use_attributes else None
    item_emb = model.encoder.item_embeddings.weight
    zero = torch.zeros((), dtype=DT)
    terms = {"aap": zero, "mip": zero, "map": zero, "sp": zero}
    for r in range(out.shape[0]):
        for c in range(MAX_LEN):
            token = int(batch.masked_items[r, c])
            if token == 0:
                continue
            h = out[r, c]
            item = int(batch.pos_items[r, c])
            if attr_emb is not None:
                head = model.map_norm if token == mask_id else model.aap_norm
                v = head.weight @ h + head.bias
                for a in range(ATTRIBUTE_SIZE):
                    y = 1.0 if a in ATTRS.get(str(item), []) else 0.0
                    key = "map" if token == mask_id else "aap"
                    terms[key] = terms[key] + bce(sig(torch.dot(attr_emb[a], v)), y)
            if token == mask_id:
                w = model.mip_norm.weight @ h + model.mip_norm.bias
                p = sig(torch.dot(w, item_emb[item]))
                n = sig(torch.dot(w, item_emb[int(batch.neg_items[r, c])]))
                terms["mip"] = terms["mip"] + bce(sig(p - n), 1.0)
    ctx = bidirectional_reference(model, batch.masked_segment)[:, -1]
    pos = bidirectional_reference(model, batch.pos_segment)[:, -1]
    neg = bidirectional_reference(model, batch.neg_segment)[:, -1]
    for r in range(ctx.shape[0]):
        c = model.sp_norm.weight @ ctx[r] + model.sp_norm.bias
        terms["sp"] = terms["sp"] + bce(sig(sig(torch.dot(c, pos[r])) - sig(torch.dot(c, neg[r]))), 1.0)
    if attr_emb is None:
        del terms["aap"], terms["map"]
    return terms


@pytest.mark.parametrize("use_attributes", [True, False])
def test_pretraining_objectives_equal_an_independent_computation(use_attributes: bool, tmp_path: Path) -> None:
    model = s3rec(use_attributes=use_attributes)
    model.train()  # dropout is 0: train mode only matters for the code path
    batch = fixed_batch(tmp_path)
    assert (batch.masked_items == ITEM_SIZE - 1).sum() > (batch.masked_items[:, -1] > 0).sum()  # not only the last
    expected = reference_pretrain_terms(model, batch)
    for groups in (1, 4):
        got = model.pretrain_losses(batch, groups=groups)
        assert set(got) == set(expected) == set(model.pretrain_weights)
        for name, value in expected.items():
            assert value.item() > 0, name
            assert got[name].item() == pytest.approx(value.item(), rel=1e-10), (name, groups)
    weights = {"aap": 0.2, "mip": 1.0, "map": 1.0, "sp": 0.5}
    assert model.pretrain_weights == {k: weights[k] for k in expected}


def test_pretraining_encoder_is_bidirectional_and_grouping_is_exact() -> None:
    model = s3rec()
    model.eval()
    ids = torch.tensor([[0, 0, 0, 0, 3, 15], [1, 2, 3, 4, 5, 15], [0, 0, 7, 15, 9, 15], [0, 0, 0, 0, 0, 15]])
    ref = bidirectional_reference(model, ids)
    real = ids > 0
    for groups in (1, 2, 4):
        got = model.encode_bidirectional(ids, groups)
        assert torch.allclose(got[real], ref[real], atol=1e-12, rtol=0)
        last = model.encode_bidirectional(ids, groups, last_only=True)
        assert torch.allclose(last, ref[:, -1], atol=1e-12, rtol=0)
    causal = model.encoder(ids)  # the fine-tuning encoder stays causal
    assert not torch.allclose(causal[real], ref[real])


# ------------------------------------------------------------------------------ S3-Rec: released checkpoints


@pytest.mark.parametrize("dataset, item_size", [("Beauty", 12103), ("Toys_and_Games", 11926)])
def test_official_state_dict_matches_the_released_checkpoint(dataset: str, item_size: int, shared_dir: Path) -> None:
    path = shared_dir / "checkpoints" / f"S3Rec-pretrain-{dataset}-epochs-150.pt"
    released = torch.load(path, map_location="cpu", weights_only=True)
    model, _ = build_model("s3rec", dataset, item_size)
    ours = model.official_state_dict()
    assert set(ours) == set(released)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in released.items()}
    model.load_pretrained(path)
    for key, value in model.official_state_dict().items():
        assert torch.equal(value, released[key]), key
    noattr, _ = build_model("s3rec-noattr", dataset, item_size)
    noattr.load_pretrained(path)  # the attribute table and AAP/MAP heads are dropped
    assert set(noattr.official_state_dict()) == set(released) - {
        k for k in released if k.split(".")[0] in ("attribute_embeddings", "aap_norm", "map_norm")}


@pytest.fixture(scope="module")
def beauty(shared_dir: Path, tmp_path_factory) -> SequenceData:
    return load_dataset("Beauty", data_dir=tmp_path_factory.getbasetemp() / "s3rec-data", mirror=shared_dir / "data")


def test_released_checkpoint_solves_our_pretraining_batches(beauty: SequenceData, shared_dir: Path,
                                                            tmp_path_factory) -> None:
    """The released model was pre-trained by the original code on the original's inputs. On batches built here
    it must do far better than a random initialisation on every objective; if an input were built differently
    (say the SP backgrounds padded instead of masked) or a head were swapped, it would not."""
    folder = tmp_path_factory.getbasetemp() / "s3rec-data" / "Beauty"
    table = read_item_attributes(folder, beauty.item_size, 638)
    sampler = PretrainSampler(beauty, 50, 0.2, table)
    rng = np.random.default_rng(0)
    batch = sampler.batch(rng.choice(len(sampler), 1000, replace=False), rng)
    losses = {}
    for name in ("random", "released"):
        torch.manual_seed(1)
        model, _ = build_model("s3rec", "Beauty", beauty.item_size)
        if name == "released":
            model.load_pretrained(shared_dir / "checkpoints" / "S3Rec-pretrain-Beauty-epochs-150.pt")
        model.eval()
        with torch.no_grad():
            losses[name] = {k: v.item() / 1000 for k, v in model.pretrain_losses(batch).items()}
    random, released = losses["random"], losses["released"]
    # measured: random aap 2176 mip 1.55 map 990 sp 0.694; released aap 4.4 mip 0.93 map 30 sp 0.49
    assert released["aap"] < 0.01 * random["aap"] and released["map"] < 0.1 * random["map"], losses
    assert released["mip"] < 0.75 * random["mip"] and released["sp"] < 0.8 * random["sp"], losses


def test_finetuning_from_the_released_beauty_checkpoint_runs_one_epoch(beauty: SequenceData, shared_dir: Path,
                                                                        tmp_path: Path) -> None:
    """300 Beauty users plus the one holding the largest item id, so the item table keeps the checkpoint's
    12,103 rows and the released weights load unchanged."""
    owner = int(np.searchsorted(beauty.offsets, int(np.argmax(beauty.items)), side="right") - 1)
    data = beauty.subset(np.r_[np.arange(300), owner])
    assert data.item_size == beauty.item_size == 12103
    path = shared_dir / "checkpoints" / "S3Rec-pretrain-Beauty-epochs-150.pt"
    released = torch.load(path, map_location="cpu", weights_only=True)
    torch.manual_seed(1)
    model, mcfg = build_model("s3rec", "Beauty", data.item_size, {"pretrained": str(path)})
    tcfg = TrainConfig(**{**model.train_overrides, "max_epochs": 1})
    assert (tcfg.patience, tcfg.max_epochs, tcfg.batch_size) == (10, 1, 256)
    meta = {"model": "s3rec", "dataset": "Beauty", "seed": 1, "model_config": dataclasses.asdict(mcfg)}
    metrics = Trainer(model, data, tcfg, tmp_path, torch.device("cpu"), 1, meta).fit()
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["status"] == "ok" and written["epochs"] == 1 and set(written["test"]) == set(metrics["test"])
    # the released weights were loaded: the attribute table gets no gradient in fine-tuning and stays as released
    assert torch.equal(model.attribute_embeddings.weight, released["attribute_embeddings.weight"])
    assert not torch.equal(model.encoder.item_embeddings.weight, released["item_embeddings.weight"])  # trained
    assert model.pretrain_log == []  # no pre-training when a checkpoint is given


# ------------------------------------------------------------------------------------ BERT4Rec


def bert(**kw) -> BERT4Rec:
    base = dict(hidden=HIDDEN, layers=1, heads=2, max_len=MAX_LEN, attn_dropout=0.0, hidden_dropout=0.0)
    base.update(kw)
    torch.manual_seed(0)
    return BERT4Rec(ITEM_SIZE, BERT4RecConfig(**base)).to(DT)


def test_bert4rec_trains_on_the_training_part_of_each_sequence() -> None:
    data = tiny_data()
    batch = next(EpochBuilder(data, 8, negatives=False, augment=None).epoch(1, 0))
    got = bert().training_sequences(batch)
    expected = data.window(0, 2)[batch.users]  # s[:-2], last max_len, left-padded
    full = torch.from_numpy(data.lengths[batch.users.numpy()] >= 4)
    assert torch.equal(got[full], expected[full]) and full.sum() == len(SEQS) - 1
    # a 3-item user's s[:-2] is one item that neither input_ids (s[:-3]) nor target_pos (s[1:-2]) holds
    assert (got[~full] == 0).all()


@pytest.mark.parametrize("mask_prob, max_pred", [(0.6, 30), (0.2, 40), (0.6, 2)])
def test_bert4rec_cloze_mask_count_and_rate(mask_prob: float, max_pred: int) -> None:
    model = bert(mask_prob=mask_prob, max_predictions=max_pred)
    width = 20  # the mask does not depend on max_len
    lengths = torch.tensor([1, 2, 3, 5, 8, 13, 20])
    seqs = torch.where(torch.arange(width)[None, :] >= width - lengths[:, None], 7, 0).repeat(3000, 1)
    torch.manual_seed(3)
    masked = model.cloze_mask(seqs)
    real = seqs > 0
    assert not (masked & ~real).any()
    n = real.sum(1)
    count = masked.sum(1)
    want = torch.tensor([min(max_pred, max(1, math.floor(k * mask_prob + 0.5))) for k in n.tolist()])
    last_only = (count == 1) & masked[:, -1] & (want != 1)  # rows of the last-item kind (where tellable)
    share = last_only.sum().item() / (want != 1).sum().item()
    assert abs(share - 1 / 11) < 0.015  # dupe_factor 10: one last-item copy per ten random copies
    random_rows = ~last_only & (want != 1)
    assert torch.equal(count[random_rows], want[random_rows])
    # positions are drawn uniformly: per length, every real position is masked at the same rate
    checked = 0
    for k in (3, 8, 20):
        expected = min(max_pred, max(1, math.floor(k * mask_prob + 0.5))) / k
        if expected * k == 1:  # a one-position row cannot be told from a last-item copy
            continue
        rows = random_rows & (n == k)
        freq = masked[rows][:, width - k:].float().mean(0)
        checked += 1
        assert torch.allclose(freq, torch.full_like(freq, expected), atol=0.05), (k, freq)
    assert checked >= 2


def test_bert4rec_masking_uses_torch_global_rng() -> None:
    model = bert(mask_prob=0.6)
    seqs = torch.tensor(SEQS[0][:MAX_LEN]).repeat(50, 1)
    torch.manual_seed(11)
    a = model.cloze_mask(seqs)
    torch.manual_seed(11)
    assert torch.equal(a, model.cloze_mask(seqs))
    torch.manual_seed(12)
    assert not torch.equal(a, model.cloze_mask(seqs))


def test_bert4rec_loss_is_full_softmax_ce_at_masked_positions() -> None:
    model = bert(mask_prob=0.6)
    model.train()
    with torch.no_grad():
        model.output_bias.normal_()
        model.transform_norm.weight.normal_(1.0, 0.1)
    data = tiny_data()
    batch = next(EpochBuilder(data, 8, negatives=False, augment=None).epoch(1, 0))
    seqs = model.training_sequences(batch)
    torch.manual_seed(4)
    masked = model.cloze_mask(seqs)
    torch.manual_seed(4)
    got = model.loss(batch)["cloze"]
    inputs = seqs.masked_fill(masked, ITEM_SIZE - 1)
    out = bidirectional_reference(model, inputs)
    emb = model.encoder.item_embeddings.weight
    total, count = torch.zeros((), dtype=DT), 0
    for r, c in zip(*torch.nonzero(masked, as_tuple=True)):
        x = model.transform_dense.weight @ out[r, c] + model.transform_dense.bias
        x = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-12)
        x = x * model.transform_norm.weight + model.transform_norm.bias
        logits = torch.stack([torch.dot(x, emb[i]) + model.output_bias[i] for i in range(ITEM_SIZE)])
        total = total - (logits[int(seqs[r, c])] - torch.log(torch.exp(logits).sum()))
        count += 1
    assert count > 0 and got.item() > 0
    assert got.item() == pytest.approx((total / (count + 1e-5)).item(), rel=1e-10)


def test_bert4rec_scores_the_mask_appended_after_the_history() -> None:
    model = bert()
    model.eval()
    inputs = tiny_data().eval_split("test").inputs
    shifted = torch.cat([inputs[:, 1:], torch.full((len(inputs), 1), ITEM_SIZE - 1)], 1)
    h = bidirectional_reference(model, shifted)[:, -1]
    expected = model.logits(h)
    got = model.score(inputs)
    assert got.shape == (len(inputs), ITEM_SIZE)
    assert torch.allclose(got, expected, atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------ BERT4Rec's optimiser


def test_adam_weight_decay_is_berts_update_without_bias_correction() -> None:
    from elcrec.nn.optim import AdamWeightDecay

    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=DT))
    b = torch.nn.Parameter(torch.tensor([0.5], dtype=DT))
    opt = AdamWeightDecay([{"params": [w], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}], lr=0.1)
    m_w, v_w, m_b, v_b = np.zeros(2), np.zeros(2), np.zeros(1), np.zeros(1)
    ref_w, ref_b = np.array([1.0, -2.0]), np.array([0.5])
    for g_w, g_b in ([[0.3, -0.1], [0.2]], [[-0.5, 0.4], [0.1]]):
        w.grad, b.grad = torch.tensor(g_w, dtype=DT), torch.tensor(g_b, dtype=DT)
        opt.step()
        m_w, v_w = 0.9 * m_w + 0.1 * np.array(g_w), 0.999 * v_w + 0.001 * np.array(g_w) ** 2
        m_b, v_b = 0.9 * m_b + 0.1 * np.array(g_b), 0.999 * v_b + 0.001 * np.array(g_b) ** 2
        ref_w = ref_w - 0.1 * (m_w / (np.sqrt(v_w) + 1e-6) + 0.01 * ref_w)
        ref_b = ref_b - 0.1 * (m_b / (np.sqrt(v_b) + 1e-6))
        assert np.allclose(w.detach().numpy(), ref_w, rtol=1e-12) and np.allclose(b.detach().numpy(), ref_b)


def test_bert4rec_optimiser_schedule_decay_groups_and_clip() -> None:
    model = bert()
    optim, sched = model.make_optimizer(TrainConfig(), steps_per_epoch=3)
    assert model.grad_clip == 5.0
    decayed, plain = optim.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert {names[id(p)] for p in plain["params"]} >= {"output_bias", "transform_norm.weight", "transform_norm.bias",
                                                        "encoder.LayerNorm.weight", "transform_dense.bias"}
    assert all("bias" not in names[id(p)] and "LayerNorm" not in names[id(p)] for p in decayed["params"])
    assert "encoder.item_embeddings.weight" in {names[id(p)] for p in decayed["params"]}
    lrs = []
    for _ in range(201):  # the lr each update uses: init * step / 100, then init * (1 - step / 400000)
        lrs.append(optim.param_groups[0]["lr"])
        optim.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[1] == pytest.approx(1e-6) and lrs[50] == pytest.approx(5e-5)
    assert lrs[100] == pytest.approx(1e-4 * (1 - 100 / 400_000))
    assert lrs[200] == pytest.approx(1e-4 * (1 - 200 / 400_000))
    adam_model, _ = build_model("bert4rec-adam", "synthetic", ITEM_SIZE, {"hidden": HIDDEN, "max_len": MAX_LEN})
    adam, none = adam_model.make_optimizer(TrainConfig(), steps_per_epoch=3)
    assert isinstance(adam, torch.optim.Adam) and none is None and adam_model.grad_clip is None
    assert adam.param_groups[0]["lr"] == 1e-3


def test_trainer_clips_steps_the_schedule_and_resumes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tiny_data()
    sets = {"layers": 1, "hidden": HIDDEN, "max_len": MAX_LEN, "warmup_steps": 4}

    def trainer(out: Path) -> Trainer:
        torch.manual_seed(1)
        model, mcfg = build_model("bert4rec", "synthetic", data.item_size, sets)
        tcfg = TrainConfig(max_epochs=3, batch_size=2)
        meta = {"model": "bert4rec", "dataset": "synthetic", "seed": 1, "model_config": dataclasses.asdict(mcfg)}
        return Trainer(model, data, tcfg, out, torch.device("cpu"), 1, meta)

    clips = []
    real_clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, m: clips.append(m) or real_clip(p, m))
    whole = trainer(tmp_path / "whole")
    whole.fit()
    steps = 3 * whole.builder.num_batches()
    assert clips == [5.0] * steps and whole.sched.last_epoch == steps
    undo = interrupt_training_at(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        trainer(tmp_path / "cut").fit()
    undo()
    resumed = trainer(tmp_path / "cut")
    resumed.fit()
    assert resumed.sched.last_epoch == steps  # the schedule continued from resume.pt, not from step 0
    drop = lambda text: [",".join(r.split(",")[:-2]) for r in text.splitlines()]  # noqa: E731 (no seconds)
    logs = [drop((tmp_path / run / "train_log.csv").read_text()) for run in ("cut", "whole")]
    assert logs[0] == logs[1]


# ------------------------------------------------------------------------------ one epoch, every model


@pytest.mark.parametrize("name", ["s3rec", "s3rec-noattr", "bert4rec"])
def test_each_model_trains_one_epoch_and_writes_metrics(name: str, tmp_path: Path) -> None:
    data = tiny_data()
    sets = {"layers": 1, "hidden": HIDDEN, "max_len": MAX_LEN}
    if name.startswith("s3rec"):
        sets.update(pretrain_epochs=2, pretrain_batch_size=4, attribute_size=ATTRIBUTE_SIZE)
    runs = []
    for run in ("a", "b"):  # twice: the whole run, pre-training included, is reproducible
        torch.manual_seed(1)
        model, mcfg = build_model(name, "synthetic", data.item_size, sets)
        tcfg = TrainConfig(**{**model.train_overrides, "max_epochs": 1, "batch_size": 2})
        meta = {"model": name, "dataset": "synthetic", "seed": 1, "model_config": dataclasses.asdict(mcfg)}
        out = tmp_path / run
        Trainer(model, data, tcfg, out, torch.device("cpu"), 1, meta, dataset_dir=attribute_dir(tmp_path)).fit()
        written = json.loads((out / "metrics.json").read_text())
        assert written["status"] == "ok" and written["epochs"] == 1 and written["model"] == name
        assert all(0 <= v <= 1 for v in written["test"].values())
        runs.append((model, (out / "train_log.csv").read_text()))
    (first, log_a), (second, log_b) = runs
    assert log_a.splitlines()[1].split(",")[:3] == log_b.splitlines()[1].split(",")[:3]
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key
    if name.startswith("s3rec"):
        strip = lambda log: [{k: v for k, v in row.items() if k != "seconds"} for row in log]  # noqa: E731
        assert len(first.pretrain_log) == 2 and strip(first.pretrain_log) == strip(second.pretrain_log)
        expected = {"pretrain_mip", "pretrain_sp"} | ({"pretrain_aap", "pretrain_map"} if name == "s3rec" else set())
        assert expected <= set(first.pretrain_log[0]) and all(
            v > 0 for k, v in first.pretrain_log[0].items() if k.startswith("pretrain_"))


def test_pretrain_groups_auto_per_device_and_explicit() -> None:
    auto = S3RecConfig(attribute_size=ATTRIBUTE_SIZE)
    assert pretrain_groups(auto, torch.device("cpu")) == LENGTH_GROUPS
    assert pretrain_groups(auto, torch.device("cuda")) == 1  # no CUDA needed: only the device type is read
    assert pretrain_groups(S3RecConfig(attribute_size=ATTRIBUTE_SIZE, pretrain_groups=2), torch.device("cpu")) == 2
    with pytest.raises(ValueError, match="pretrain_groups"):
        S3RecConfig(attribute_size=ATTRIBUTE_SIZE, pretrain_groups=-1).validate()
