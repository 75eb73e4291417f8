"""DCRec: its graphs edge by edge on the hand-made dataset and its losses against independent dense computations.

References are written apart from the model: dense numpy/torch matrices and plain Python loops transcribing
HKUDS/DCRec @2338233 (``run_DCRec.py`` ``build_adj_graph`` / ``build_sim_graph``, ``dcrec.py``), never the
sparse code under test.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.dcrec import DCRec, conformity_weights, cosine_nce, kl_to_prior
from baselines.dcrec_graphs import (EdgeGraph, dual_neighbor_readout, gcn, sim_row_order, similarity_graph,
                                    transition_graph)
from elcrec.data.batches import Batch
from elcrec.data.sequences import SequenceData
from elcrec.models.registry import build_model
from tests.graph_data import dense, handmade, sequences

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ref_dcrec_adjacency(seqs: list[list[int]], n: int) -> np.ndarray:
    """``build_adj_graph`` on the training inputs s[:-3], with a dict of lists and a dense matrix."""
    adj_dict: dict[int, list[int]] = {}
    for seq in seqs:
        s = seq[:-3]
        for i in range(len(s)):
            if i > 0:
                adj_dict.setdefault(s[i], []).append(s[i - 1])
                adj_dict.setdefault(s[i - 1], []).append(s[i])
            if i + 1 < len(s):
                adj_dict.setdefault(s[i], []).append(s[i + 1])
                adj_dict.setdefault(s[i + 1], []).append(s[i])
    mat = np.zeros((n, n))
    for item, nbrs in adj_dict.items():
        for nbr, count in Counter(nbrs).items():
            mat[item, nbr] = count
    np.fill_diagonal(mat, 1.0)
    d = mat.sum(1) ** -0.5
    return d[:, None] * mat * d[None, :]


def test_dcrec_transition_graph_every_edge() -> None:
    data, held_out = handmade()
    graph, (ptr, keys) = transition_graph(data)
    np.testing.assert_allclose(dense(graph), ref_dcrec_adjacency(sequences(data), data.item_size), rtol=1e-6)
    off_diag = graph.src != graph.dst
    touched = set(graph.src[off_diag].tolist()) | set(graph.dst[off_diag].tolist())
    assert not touched & held_out
    for u, seq in enumerate(sequences(data)):  # the original's user_edges: (s[i], s[i-1]) and (s[i], s[i+1])
        s = seq[:-3]
        expected = sorted([(s[i], s[i - 1]) for i in range(1, len(s))] + [(s[i], s[i + 1]) for i in range(len(s) - 1)])
        got = sorted((int(k) // data.item_size, int(k) % data.item_size) for k in keys[ptr[u]:ptr[u + 1]])
        assert got == expected


def test_dcrec_similarity_graph_aligned_is_a_row_normalised_top_k_cosine() -> None:
    data, held_out = handmade()
    k = 2
    counts = np.zeros((data.num_users, data.item_size))
    for u, seq in enumerate(sequences(data)):
        for item in seq[:-3]:
            counts[u, item] += 1
    norm = np.linalg.norm(counts, axis=0)
    unit = counts / np.where(norm == 0, 1, norm)
    cos = unit.T @ unit
    mat = dense(similarity_graph(data, k, rows="aligned"))
    assert np.all(np.count_nonzero(mat, 1) <= k + 1)
    for i in range(data.item_size):
        chosen = np.flatnonzero(mat[i])
        if cos[i].max() <= 0:
            assert len(chosen) == 0  # an item no training input holds (held-out ones, pad, mask id)
            continue
        np.testing.assert_allclose(mat[i, chosen] * cos[i, chosen].sum(), cos[i, chosen], rtol=1e-5)
        np.testing.assert_allclose(mat[i].sum(), 1.0, rtol=1e-6)
        others = np.setdiff1d(np.arange(data.item_size), chosen)
        assert len(chosen) == min(k + 1, np.count_nonzero(cos[i]))
        assert cos[i, chosen].min() >= cos[i, others].max() - 1e-6  # the k + 1 largest
    assert not set(np.flatnonzero(mat.sum(0) + mat.sum(1)).tolist()) & held_out


def test_dcrec_similarity_rows_follow_the_original_block_loop() -> None:
    # By hand: blocks start at 0, 256, 768, 1536, ... (the slice start grows by 256 more each time) and the rows
    # after the last block's first 256 are appended once more: 1300 ids give 0-255, 256-511, 768-1023, 1024-1299.
    order = sim_row_order(1300)
    assert order.tolist() == list(range(0, 512)) + list(range(768, 1300))
    assert len(sim_row_order(12103)) == 10 * 256 + 327  # Beauty: only 2887 of 12103 rows get neighbours
    data, _ = handmade()
    original = dense(similarity_graph(data, 2, rows="original"))
    aligned = dense(similarity_graph(data, 2, rows="aligned"))
    np.testing.assert_allclose(original, aligned)  # fewer ids than one block: the same graph


def ref_gcn(mat: np.ndarray, x: np.ndarray) -> np.ndarray:
    """DGL GraphConv(norm='both') with edge weights after add_self_loop (weight 1), two steps, layer mean."""
    structure = (mat != 0).astype(float) + np.eye(len(mat))  # edge counts: each nonzero entry is one edge
    w = mat + np.eye(len(mat))
    out_deg, in_deg = np.maximum(structure.sum(1), 1), np.maximum(structure.sum(0), 1)
    prop = (w * out_deg[:, None] ** -0.5 * in_deg[None, :] ** -0.5).T  # h_dst = sum_src w h_src ...
    h1 = prop @ x
    return (x + h1 + prop @ h1) / 3


def test_dcrec_gcn_matches_dense_graphconv() -> None:
    data, _ = handmade()
    x = torch.randn(data.item_size, 4, dtype=torch.float64)
    for graph in (transition_graph(data)[0], similarity_graph(data, 2, rows="aligned")):
        graph = EdgeGraph(graph.src, graph.dst, graph.weight.double(), graph.n)
        graph_nz = EdgeGraph(graph.src[graph.weight != 0], graph.dst[graph.weight != 0],
                             graph.weight[graph.weight != 0], graph.n)  # zero-weight edges only count as degree
        mat = dense(graph_nz)
        got = gcn(graph_nz, x, 0.0).numpy()
        np.testing.assert_allclose(got, ref_gcn(mat, x.numpy()), rtol=1e-10)


def test_dcrec_graph_dropout_zeroes_at_most_p_of_the_edges() -> None:
    data, _ = handmade()
    graph = transition_graph(data)[0]
    x = torch.eye(graph.n)
    torch.manual_seed(0)
    full, dropped = gcn(graph, x, 0.0), gcn(graph, x, 0.5)
    assert not torch.allclose(full, dropped)
    total = len(graph.src) + graph.n
    draws = torch.randint(0, total, (int(0.5 * total),), generator=torch.Generator().manual_seed(1))
    assert 0 < len(torch.unique(draws)) <= int(0.5 * total)  # with replacement: fewer distinct than drawn


def test_dcrec_dual_neighbor_readout_matches_sets() -> None:
    data, _ = handmade()
    graph, (ptr, keys) = transition_graph(data)
    users = [0, 2, 4]
    removed = torch.from_numpy(np.concatenate([keys[ptr[u]:ptr[u + 1]] for u in users]))
    nodes = torch.tensor([2, 3, 1, 7, 9])
    feats = torch.randn(graph.n, 3, dtype=torch.float64)
    civil, foreign = dual_neighbor_readout(graph, removed, nodes, feats)
    removed_pairs = {(int(k) // graph.n, int(k) % graph.n) for k in removed}
    for i, v in enumerate(nodes.tolist()):
        all_nbrs = {int(d) for s, d in zip(graph.src.tolist(), graph.dst.tolist()) if s == v}
        fgn = {b for b in all_nbrs if (v, b) not in removed_pairs}
        cvl = all_nbrs - fgn
        zeros = torch.zeros(3, dtype=torch.float64)  # node 7: all its edges removed (the original reads NaN)
        torch.testing.assert_close(foreign[i], feats[sorted(fgn)].mean(0) if fgn else zeros)
        expected_civil = feats[sorted(cvl)].mean(0) if cvl else torch.zeros(3, dtype=torch.float64)
        torch.testing.assert_close(civil[i], expected_civil)
    # at most `cap` neighbours of each kind are read; the unsampled foreign ones become civil candidates
    torch.manual_seed(0)
    civil1, foreign1 = dual_neighbor_readout(graph, removed, nodes, torch.eye(graph.n, dtype=torch.float64), cap=1)
    assert torch.all((foreign1 > 0).sum(1) <= 1) and torch.all((civil1 > 0).sum(1) <= 1)
    assert (foreign1 > 0).sum() == 4 and (civil1 > 0).sum() == 5  # node 7 has no foreign neighbour


def test_dcrec_small_pieces_match_their_formulas() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    expected = []
    for i in range(5):
        sims = [math.exp(float(F.cosine_similarity(z1[i], z2[j], dim=0)) / 0.8) for j in range(5)]
        expected.append(-math.log(1e-8 + sims[i] / sum(sims)))
    torch.testing.assert_close(cosine_nce(z1, z2, 0.8), torch.tensor(expected, dtype=torch.float64))
    prior, w = torch.tensor([-0.1, 0.3, 0.5]), torch.tensor([0.2, 0.4, 0.9])
    t = np.log(np.maximum(prior.numpy(), 1e-8) + 1e-8)
    logp = (w.numpy() + 1e-8) - np.log(np.exp(w.numpy() + 1e-8).sum())
    assert float(kl_to_prior(prior, w)) == pytest.approx(float(np.sum(np.exp(t) * (t - logp)) / 3), rel=1e-5)
    views = tuple(torch.randn(4, 3) for _ in range(4))
    lengths = torch.tensor([3, 1, 5, 2])
    cos = [F.cosine_similarity(a, b, eps=1e-12) for a, b in ((views[0], views[1]), (views[0], views[3]),
                                                              (views[2], views[3]))]
    agree = torch.sigmoid(sum(cos) / 3)
    agree = (agree - agree.min()) / (agree.max() - agree.min())
    agree = 0.4 / agree.mean() * agree
    agree[1] = 0.5
    torch.testing.assert_close(conformity_weights(views, lengths, 0.4), agree)


def tiny_dcrec(data: SequenceData, **kw) -> DCRec:
    torch.manual_seed(0)
    settings = {"hidden": 8, "layers": 1, "heads": 2, "max_len": data.max_len, "attn_dropout": 0.0,
                "hidden_dropout": 0.0, "graph_dropout": 0.0, "sim_group": 2, "sim_rows": "aligned", **kw}
    model, _ = build_model("dcrec", "Beauty", data.item_size, settings)
    model.prepare(data)
    return model.double()


def test_dcrec_loss_matches_dense_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = handmade()
    model = tiny_dcrec(data)
    users = torch.tensor([0, 2, 4, 6, 5])  # user 5 has no training target and is dropped
    batch = Batch(users, data.train_inputs[users], data.train_targets[users])
    prior = torch.tensor([0.45, 0.30, 0.62, 0.51], dtype=torch.float64)
    monkeypatch.setattr(torch, "normal", lambda *a, **k: prior.clone())
    terms = model.loss(batch)
    # --- the reference: dense graphs, Python sets, plain formulas ---
    seqs = sequences(data)
    n = data.item_size
    table = model.encoder.item_embeddings.weight.detach()
    gamma, beta = model.layernorm.weight.detach(), model.layernorm.bias.detach()
    ln = lambda x: F.layer_norm(x, x.shape[-1:], gamma, beta, 1e-12)  # noqa: E731
    adj = ref_dcrec_adjacency(seqs, n)
    sim_graph = similarity_graph(data, 2, rows="aligned")
    kept = [0, 2, 4, 6]
    removed = set()
    for u in kept:
        s = seqs[u][:-3]
        removed |= {(s[i], s[i - 1]) for i in range(1, len(s))} | {(s[i], s[i + 1]) for i in range(len(s) - 1)}
    aug = adj.copy()
    for a, b in removed:
        aug[a, b] = 0.0
    view = lambda mat: ln(torch.from_numpy(ref_gcn(mat, table.numpy())) + table)  # noqa: E731
    g_adj, g_aug = view(adj), view(aug)
    # the similarity graph's zero-weight edges still count as degree: the sparse GCN (tested against the dense
    # GraphConv above) on it
    g_sim = ln(gcn(EdgeGraph(sim_graph.src, sim_graph.dst, sim_graph.weight.double(), n), table, 0.0) + table)
    last = [seqs[u][:-3][-1] for u in kept]
    civil, foreign = [], []
    for v in last:
        nbrs = set(np.flatnonzero(adj[v]).tolist())
        fgn = {b for b in nbrs if (v, b) not in removed}
        cvl = nbrs - fgn
        foreign.append(g_adj[sorted(fgn)].mean(0))
        civil.append(g_adj[sorted(cvl)].mean(0) if cvl else torch.zeros(8, dtype=torch.float64))
    lv = torch.tensor(last)
    lengths = torch.tensor([len(seqs[u][:-3]) for u in kept])
    w = conformity_weights((g_adj[lv], g_aug[lv], torch.stack(civil), torch.stack(foreign)), lengths, 0.5)
    with torch.no_grad():
        h = model.encoder(data.train_inputs[kept])[:, -1]
    t = torch.log(prior.sort()[0] + 1e-8)
    ws = w.sort()[0] + 1e-8
    kl = (torch.exp(t) * (t - (ws - torch.logsumexp(ws, 0)))).sum() / 4
    p = w.max() - w
    cl = (w * cosine_nce(h, g_adj[lv], 1.0) + p * cosine_nce(g_adj[lv], g_sim[lv], 1.0)).mean()
    mixed = torch.stack([h, g_adj[lv], g_sim[lv]])
    w_att, a_att = model.attn_weights.detach(), model.attn.detach()
    att = torch.softmax(torch.stack([(m @ w_att * a_att).sum(-1) for m in mixed]), 0)
    x = (att[..., None] * mixed).sum(0)
    logits = x @ table.T + 1e-8
    targets = torch.tensor([seqs[u][-3] for u in kept])
    rec = (torch.logsumexp(logits, 1) - logits[torch.arange(4), targets]).mean()
    torch.testing.assert_close(terms["rec"].detach(), rec)
    torch.testing.assert_close(terms["cl"].detach(), cl)
    torch.testing.assert_close(terms["kl"].detach(), kl)
    assert model.loss_weights == {"rec": 1.0, "cl": 0.1, "kl": 0.01}


def test_dcrec_settings_follow_run_dcrec_best_settings() -> None:
    from elcrec.models.registry import resolve_config

    _, beauty = resolve_config("dcrec", "Beauty")
    _, sports = resolve_config("dcrec", "Sports_and_Outdoors")
    assert (beauty.attn_dropout, beauty.batch_size, beauty.lr_step_epochs) == (0.1, 2048, 30)
    assert (sports.attn_dropout, sports.batch_size, sports.lr_step_epochs) == (0.3, 512, 0)
    for cfg in (beauty, sports):
        assert (cfg.cl_weight, cfg.graph_dropout, cfg.hidden_dropout, cfg.kl_weight) == (0.1, 0.5, 0.5, 0.01)
        assert (cfg.sim_group, cfg.weight_mean, cfg.cl_temp, cfg.layers, cfg.heads) == (4, 0.5, 1.0, 2, 2)
