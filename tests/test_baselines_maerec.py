"""MAERec: its graph edge by edge on the hand-made dataset, its masking and sampling, and its losses against
independent dense computations (HKUDS/MAERec @bd92f2c ``construct.py``, ``model.py``, ``main.py``).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.maerec import MAERec, mask_reward
from baselines.maerec_graph import item_graph, mask_paths, sample_negative_edges, seed_scores
from elcrec.data.batches import Batch, EpochBuilder
from elcrec.data.graphs import sparse_coo
from elcrec.models.base import TrainContext
from elcrec.models.registry import build_model
from tests.graph_data import handmade, sequences

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- MAERec ----------------------------------------------------------------------------------------------
def ref_maerec_graph(seqs: list[list[int]], n: int, distance: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """``construct_graphs`` over the training sequences s[:-2], then ``make_torch_adj`` densely."""
    pairs = set()
    for seq in seqs:
        s = seq[:-2]
        for dist in range(1, distance + 1):
            if dist >= len(s):
                break
            pairs |= set(zip(s[dist:], s[:-dist])) | set(zip(s[:-dist], s[dist:]))
    mat = np.eye(n)
    for a, b in pairs:
        mat[a, b] = 1.0
    d = mat.sum(1) ** -0.5
    return d[:, None] * mat * d[None, :], pairs


def test_maerec_item_graph_every_edge() -> None:
    data, held_out = handmade()
    adj, ones, keys = item_graph(data, 3)
    ref, pairs = ref_maerec_graph(sequences(data), data.item_size, 3)
    np.testing.assert_allclose(adj.to_dense().numpy(), ref, rtol=1e-6)
    np.testing.assert_array_equal(ones.to_dense().numpy(), (ref != 0).astype(np.float32))
    assert {(int(k) // data.item_size, int(k) % data.item_size) for k in keys} == pairs
    assert not {x for pair in pairs for x in pair} & held_out


def test_maerec_seed_scores_match_dense_path_aggregate() -> None:
    data, _ = handmade()
    _, ones, _ = item_graph(data, 1)
    e = torch.randn(data.item_size, 4, dtype=torch.float64)
    a = ones.to_dense().double()
    order = a.sum(1, keepdim=True)
    emb, num = [a @ e - e], [order]
    for _ in range(3):  # path_prob 1: every edge kept at every step
        emb.append(a @ emb[-1] - emb[-1] - order * emb[-1])
        num.append(a @ num[-1] - num[-1] - order)
    expected = (F.normalize(sum(emb) / (sum(num) + 1e-8)) * F.normalize(e)).sum(-1)
    got = seed_scores(sparse_coo(ones.indices(), ones.values().double(), ones.shape), e, 3, 1.0)
    torch.testing.assert_close(got, expected)


def test_maerec_path_masking() -> None:
    data, _ = handmade()
    adj, _, _ = item_graph(data, 1)
    rows, cols = adj.indices().tolist()
    edges = list(zip(rows, cols))
    seeds = torch.tensor([2, 9])
    enc, masked = mask_paths(adj, seeds, 1, 0.5)
    hit = [(a, b) for a, b in edges if a in (2, 9) or b in (2, 9)]
    assert sorted(map(tuple, masked.tolist())) == sorted(hit)
    left = [(a, b) for a, b in edges if (a, b) not in hit]
    deg = Counter(a for a, _ in left)
    expected = np.zeros((adj.shape[0],) * 2)
    for a, b in left:
        expected[a, b] = (deg[a] + 1e-12) ** -0.5 * (deg[b] + 1e-12) ** -0.5
    np.testing.assert_allclose(enc.to_dense().numpy(), expected, rtol=1e-6)
    # depth 2, path_prob 1: the original's next seeds are the *sums* of the removed edges' end points
    _, masked2 = mask_paths(adj, seeds, 2, 1.0, "sum")
    nxt = {a + b for a, b in hit}
    hit2 = [(a, b) for a, b in edges if (a, b) not in hit and (a in nxt or b in nxt)]
    assert sorted(map(tuple, masked2.tolist())) == sorted(hit + hit2)
    _, masked3 = mask_paths(adj, seeds, 2, 1.0, "endpoints")
    ends = {x for e in hit for x in e}
    hit3 = [(a, b) for a, b in edges if (a, b) not in hit and (a in ends or b in ends)]
    assert sorted(map(tuple, masked3.tolist())) == sorted(hit + hit3)


def test_maerec_negative_edges_are_absent_from_the_graph() -> None:
    data, _ = handmade()
    _, _, keys = item_graph(data, 3)
    n = data.item_size
    pos = torch.tensor([[1, 2], [3, 4], [9, 8]])
    torch.manual_seed(0)
    neg = sample_negative_edges(pos, torch.from_numpy(keys), n, n - 1, 6)
    assert neg.shape == (3, 6, 2)
    assert torch.all(neg[:, :3, 0] == pos[:, :1]) and torch.all(neg[:, 3:, 1] == pos[:, 1:])
    assert not torch.isin(neg[..., 0] * n + neg[..., 1], torch.from_numpy(keys)).any()
    assert neg.min() >= 1 and neg.max() <= n - 2  # 1..num_items, never the mask id


def test_maerec_decoder_and_reward() -> None:
    data, _ = handmade()
    torch.manual_seed(0)
    model, _ = build_model("maerec", "Beauty", data.item_size, {"hidden": 4, "max_len": data.max_len})
    layers = [torch.randn(data.item_size, 4) for _ in range(3)]
    pos, neg = torch.tensor([[1, 2], [3, 5]]), torch.tensor([[[1, 9], [4, 2]], [[3, 8], [6, 5]]])

    def s(u: int, v: int) -> torch.Tensor:
        f = torch.cat([layers[i][u] * layers[j][v] for i in range(2) for j in range(2)])
        return torch.exp(model.decoder.MLP(f)).squeeze()

    ratios = [s(*p) / (s(*p) + sum(s(*q) for q in ng) + 1e-8) + 1e-8 for p, ng in zip(pos.tolist(), neg.tolist())]
    torch.testing.assert_close(model.decoder(layers, pos, neg, False), -sum(ratios))
    torch.testing.assert_close(model.decoder(layers, pos, neg, True), -sum(torch.log(r) for r in ratios))
    assert mask_reward([3.0, 2.0], 0.2) == 1.0  # fewer than 3 losses
    assert mask_reward([3.0, 2.0, 1.5], 0.2) == 0.2  # decrease 0.5 < mean 1.0
    assert mask_reward([3.0, 2.8, 2.0], 0.2) == 1.0  # decrease 0.8 > mean 0.2


def ref_maerec_transformer(model: MAERec, ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """model.py SASRec.forward in eval mode, from the weights: post-LN attention, FFN without residual, sum."""
    enc = model.encoder
    length = ids.shape[1]
    x = F.layer_norm(table[ids] + enc.position_embeddings.weight[:length], (table.shape[1],),
                     enc.LayerNorm.weight, enc.LayerNorm.bias, 1e-5)
    keep = (ids > 0)[:, None, None, :] & torch.tril(torch.ones(length, length, dtype=torch.bool))
    mask = (1.0 - keep.to(x.dtype)) * -10000.0
    outs = [x]
    for attn, ffn in zip(enc.attention, enc.feed_forward):
        b, h = x.shape[0], attn.heads
        split = lambda t: t.view(b, length, h, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(attn.query(x)), split(attn.key(x)), split(attn.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask, -1)
        ctx = (probs @ v).transpose(1, 2).reshape(x.shape)
        x = F.layer_norm(attn.dense(ctx) + x, x.shape[-1:], attn.LayerNorm.weight, attn.LayerNorm.bias, 1e-5)
        x = F.layer_norm(ffn.dense_2(F.gelu(ffn.dense_1(x))), x.shape[-1:], ffn.LayerNorm.weight,
                         ffn.LayerNorm.bias, 1e-5)
        outs.append(x)
    return sum(outs)


def test_maerec_loss_matches_dense_reference() -> None:
    data, _ = handmade()
    torch.manual_seed(0)
    model, _ = build_model("maerec", "Beauty", data.item_size,
                           {"hidden": 8, "max_len": data.max_len, "attn_dropout": 0.0, "hidden_dropout": 0.0,
                            "mask_candidates": 2, "recon_batch": 4, "recon_negatives": 4})
    model.prepare(data)
    users = torch.tensor([0, 2, 6])
    batch = next(EpochBuilder(data, 3, True, None).epoch(1, 0))
    batch = Batch(users, data.train_inputs[users], data.train_targets[users], batch.target_neg)
    model.before_step(TrainContext(data, torch.device("cpu"), 1), 0)
    masked_adj, _ = model._masked  # type: ignore[misc]
    seed_scr = model._seed_scores.detach()  # type: ignore[union-attr]
    terms = model.loss(batch)
    e = model.encoder.item_embeddings.weight.detach()
    g = masked_adj.to_dense()
    table = e + g @ e + g @ g @ e
    with torch.no_grad():
        out = ref_maerec_transformer(model, batch.input_ids, table)
    pos, neg = batch.target_pos, batch.target_neg
    is_t = (pos > 0).float()
    bce = (-torch.log(torch.sigmoid((out * table[pos]).sum(-1)) + 1e-24)
           - torch.log(1 - torch.sigmoid((out * table[neg]).sum(-1)) + 1e-24))
    torch.testing.assert_close(terms["rec"].detach(), (bce * is_t).sum() / is_t.sum())
    torch.testing.assert_close(terms["reg"].detach(), sum(p.detach().pow(2).sum() for p in model.parameters()))
    torch.testing.assert_close(terms["mask"].detach(), -seed_scr.mean())  # first mask step: reward 1
    assert terms["recon"].item() < 0 and model.loss_weights == {"rec": 1.0, "recon": 1.0, "reg": 1e-6, "mask": 1.0}
    model.before_step(TrainContext(data, torch.device("cpu"), 1), 1)  # not a mask step: same graph, no mask loss
    assert model._masked[0] is masked_adj and float(model.loss(batch)["mask"]) == 0.0  # type: ignore[index]
    model.eval()
    with torch.no_grad():
        full = model.adj.to_dense()  # type: ignore[union-attr]
        x = e + full @ e + full @ full @ e
        expected = ref_maerec_transformer(model, batch.input_ids, x)[:, -1] @ x.T
        expected[:, -1] = -1e8
        torch.testing.assert_close(model.score(batch.input_ids), expected)
