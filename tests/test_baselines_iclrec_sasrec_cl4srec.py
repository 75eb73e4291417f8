"""Tests for the SASRec, ICLRec, CL4SRec and CoSeRec baselines (baselines/{sasrec,iclrec,cl4srec,coserec}.py).

Every loss term is recomputed here from the encoder outputs with plain loops and logsumexp, independently of
elcrec.nn.losses, on a fixed tiny batch with dropout 0. The ICLRec-specific mechanics (k-means every epoch,
gradient-free centroids, raw-space assignment, checkpoint layout) and the CL4SRec ones (two different operators,
CE over the item table, mask token) and the CoSeRec ones (ItemCF-IUF against a dict implementation, online and
hybrid similarity, insert/substitute, length-dependent operator sets) are checked directly; each model trains one
epoch through the Trainer on 300 Beauty users.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.cl4srec import MASKED_SCORE, CL4SRec, CL4SRecConfig
from baselines.coserec import CoSeRec, CoSeRecConfig, informed_views, offline_top1, online_top1
from baselines.iclrec import ICLRec, ICLRecConfig
from baselines.sasrec import SASRec, SASRecConfig
from elcrec.data import load_dataset
from elcrec.data.augment import OPS, draw_ops
from elcrec.data.batches import Batch, EpochBuilder
from elcrec.data.sequences import SequenceData
from elcrec.models.base import TrainContext
from elcrec.models.registry import build_model, resolve_config
from elcrec.train import TrainConfig, Trainer

TINY = {"hidden": 8, "heads": 2, "max_len": 12, "attn_dropout": 0.0, "hidden_dropout": 0.0}


# --- fixtures and independent reference computations ------------------------------------------------
def tiny_data(num_users: int = 40, num_items: int = 30, length: tuple[int, int] = (6, 16), seed: int = 0,
              max_len: int = 12) -> SequenceData:
    """Users with distinct items each (so augmentations are recognisable), ids 1..num_items all used."""
    rng = np.random.default_rng(seed)
    seqs = [list(rng.choice(np.arange(1, num_items + 1), size=rng.integers(*length, endpoint=True), replace=False))
            for _ in range(num_users)]
    seqs[0] = list(range(1, num_items + 1))[:length[1]]
    seqs[1] = list(range(num_items, 0, -1))[:length[1]]
    return SequenceData.from_lists(seqs, max_len=max_len)


def first_batch(model, data: SequenceData, batch_size: int = 16, seed: int = 3) -> Batch:
    return next(iter(EpochBuilder(data, batch_size, model.needs_negatives, model.augment).epoch(seed, 0)))


def ctx_for(data: SequenceData, epoch: int = 0, seed: int = 1) -> TrainContext:
    return TrainContext(data, torch.device("cpu"), seed, epoch, batch_size=16)


def ref_bce(seq_out, pos, neg, emb) -> torch.Tensor:
    total, count = 0.0, 0
    for b in range(pos.shape[0]):
        for t in range(pos.shape[1]):
            if pos[b, t] > 0:
                s_pos = torch.dot(seq_out[b, t], emb[pos[b, t]])
                s_neg = torch.dot(seq_out[b, t], emb[neg[b, t]])
                total = total - torch.log(torch.sigmoid(s_pos)) - torch.log(1 - torch.sigmoid(s_neg))
                count += 1
    return total / count


def ref_nce(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SimCLR NT-Xent, temperature 1, dot products: each of the 2n rows against all others, positive = its pair."""
    z = torch.cat([a, b])
    n2 = z.shape[0]
    losses = []
    for i in range(n2):
        others = torch.stack([torch.dot(z[i], z[j]) for j in range(n2) if j != i])
        losses.append(torch.logsumexp(others, 0) - torch.dot(z[i], z[(i + n2 // 2) % n2]))
    return torch.stack(losses).mean()


def ref_ce(hidden: torch.Tensor, targets: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.logsumexp(table @ h, 0) - torch.dot(h, table[t]) for h, t in zip(hidden, targets)]).mean()


def close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return torch.allclose(x.double(), y.double(), rtol=1e-5, atol=1e-6)


def check_bce_and_flat_nce(model, batch: Batch, view1: torch.Tensor, view2: torch.Tensor) -> None:
    """The loss is BCE next-item (weight 1) + 0.1 x NCE of the two views' flattened outputs, each recomputed here."""
    terms = model.loss(batch)
    assert set(terms) == {"rec", "seq_cl"} and model.loss_weights == {"rec": 1.0, "seq_cl": 0.1}
    enc, b = model.encoder, len(batch)
    with torch.no_grad():
        out = enc(batch.input_ids)
        assert close(terms["rec"], ref_bce(out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight))
        assert close(terms["seq_cl"], ref_nce(enc(view1).reshape(b, -1), enc(view2).reshape(b, -1)))


# --- SASRec ------------------------------------------------------------------------------------------
def test_sasrec_bce_matches_reference() -> None:
    data = tiny_data()
    torch.manual_seed(0)
    model = SASRec(data.item_size, SASRecConfig(**TINY))
    batch = first_batch(model, data)
    assert model.augment is None and model.needs_negatives and batch.views is None
    terms = model.loss(batch)
    assert set(terms) == {"rec"} and model.loss_weights == {"rec": 1.0}
    with torch.no_grad():
        out = model.encoder(batch.input_ids)
        expected = ref_bce(out, batch.target_pos, batch.target_neg, model.encoder.item_embeddings.weight)
    assert close(terms["rec"], expected)


def test_sasrec_settings() -> None:
    for dataset in ("Beauty", "Sports_and_Outdoors", "Toys_and_Games", "Yelp", "ml-1m"):
        _, cfg = resolve_config("sasrec", dataset)
        assert (cfg.layers, cfg.heads, cfg.hidden, cfg.attn_dropout, cfg.hidden_dropout, cfg.max_len) == \
            (2, 2, 64, 0.5, 0.5, 50)
    assert SASRec.train_overrides == {"max_epochs": 200, "patience": 10}  # S3-Rec's run_finetune_full.py


# --- ICLRec ------------------------------------------------------------------------------------------
def tiny_iclrec(data: SequenceData, **kw) -> ICLRec:
    torch.manual_seed(0)
    return ICLRec(data.item_size, ICLRecConfig(**{**TINY, "layers": 1, "k": 4, "intent_cf_weight": 0.1, **kw}))


def test_iclrec_terms_match_reference() -> None:
    data = tiny_data()
    model = tiny_iclrec(data)
    model.on_epoch_start(ctx_for(data))
    batch = first_batch(model, data)
    terms = model.loss(batch)
    assert set(terms) == {"rec", "seq_cl", "intent_cl"}
    assert model.loss_weights == {"rec": 1.0, "seq_cl": 0.1, "intent_cl": 0.1}
    enc, b = model.encoder, len(batch)
    with torch.no_grad():
        out = enc(batch.input_ids)
        v1, v2 = enc(batch.views[0]), enc(batch.views[1])
        raw = model.raw_centroids
        h = out.mean(1)
        ids = torch.tensor([int(np.argmin([float(((h[i] - c) ** 2).sum()) for c in raw])) for i in range(b)])
        intents = raw[ids] / raw[ids].norm(dim=1, keepdim=True)
        expected = {
            "rec": ref_bce(out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight),
            "seq_cl": ref_nce(v1.reshape(b, -1), v2.reshape(b, -1)),
            "intent_cl": (ref_nce(v1.mean(1), intents) + ref_nce(v2.mean(1), intents)) / 2,
        }
    for key, value in expected.items():
        assert close(terms[key], value), key
    # flattened (L x hidden) outputs in seq-CL, not pooled ones
    assert not close(terms["seq_cl"], ref_nce(v1.mean(1), v2.mean(1)))


def test_iclrec_kmeans_runs_every_epoch() -> None:
    data = tiny_data()
    model = tiny_iclrec(data)
    model.on_epoch_start(ctx_for(data, epoch=0))
    first_raw, first = model.raw_centroids.clone(), model.centroids.clone()
    assert first_raw.abs().sum() > 0
    assert torch.allclose(first.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(first, first_raw / first_raw.norm(dim=1, keepdim=True), atol=1e-6)
    # the data are eval-mode mean-pooled encodings of the training inputs: the centroids are their cluster means
    with torch.no_grad():
        pooled = model.eval().encoder(data.train_inputs).mean(1)
    model.train()
    nearest = ((pooled[:, None] - first_raw[None]) ** 2).sum(-1).argmin(1)
    for j in nearest.unique():
        assert torch.allclose(first_raw[j], pooled[nearest == j].mean(0), atol=1e-4)
    # one training step changes the encoder; the next epoch start clusters again
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    terms = model.loss(first_batch(model, data))
    sum(model.loss_weights[k] * v for k, v in terms.items()).backward()
    opt.step()
    model.on_epoch_start(ctx_for(data, epoch=1))
    assert not torch.allclose(model.raw_centroids, first_raw)
    assert not torch.allclose(model.centroids, first)


def test_iclrec_centroids_get_no_gradient() -> None:
    data = tiny_data()
    model = tiny_iclrec(data)
    model.on_epoch_start(ctx_for(data))
    params = {id(p) for p in model.parameters()}
    for buf in (model.centroids, model.raw_centroids):
        assert id(buf) not in params and not buf.requires_grad
    terms = model.loss(first_batch(model, data))
    terms["intent_cl"].backward()
    assert model.centroids.grad is None and model.raw_centroids.grad is None
    assert model.encoder.item_embeddings.weight.grad is not None  # the intent loss does train the encoder
    # the checkpoint layout stays ICLRec's: no centroid keys (the state_dict keeps the warm start for resume)
    assert set(model.official_state_dict()) == set(model.encoder.state_dict())
    assert {"raw_centroids", "kmeans_runs"} <= set(model.state_dict())


def test_iclrec_kmeans_warm_starts_from_the_previous_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch 1's k-means starts from epoch 0's centroids, as the original's one kept faiss Clustering object."""
    import faiss

    import baselines.iclrec as mod

    data = tiny_data()
    model = tiny_iclrec(data)
    inits, datas = [], []
    real = mod.faiss_kmeans

    def spy(x, k, seed, niter, nredo, init=None):  # noqa: ANN001, ANN202
        inits.append(None if init is None else init.copy())
        datas.append(x.copy())
        return real(x, k, seed, niter, nredo, init=init)

    monkeypatch.setattr(mod, "faiss_kmeans", spy)
    model.on_epoch_start(ctx_for(data, epoch=0))
    first = model.raw_centroids.clone()
    with torch.no_grad():  # a changed encoder, so epoch 1 clusters other data
        model.encoder.item_embeddings.weight.mul_(1.5)
    model.on_epoch_start(ctx_for(data, epoch=1))
    assert inits[0] is None and np.array_equal(inits[1], first.numpy())
    assert model.kmeans_runs.item() == 2
    # and the result equals what one faiss Clustering object trained twice gives (the original's KMeans)
    clus = faiss.Clustering(8, 4)
    clus.verbose, clus.niter, clus.nredo, clus.seed = False, 20, 5, 1
    clus.max_points_per_centroid, clus.min_points_per_centroid = 4096, 0
    index = faiss.IndexFlatL2(8)
    for x in datas:
        clus.train(np.ascontiguousarray(x, dtype=np.float32), index)
    kept = faiss.vector_to_array(clus.centroids).reshape(4, 8)
    assert np.array_equal(model.raw_centroids.numpy(), kept)
    cold = real(datas[1], 4, 1, 20, 5)
    assert not np.array_equal(cold, kept)  # a fresh k-means would differ: the warm start is not a no-op
    # a resumed run carries the warm start in its state_dict; the official checkpoint layout does not
    fresh = tiny_iclrec(data)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.raw_centroids, model.raw_centroids) and fresh.kmeans_runs.item() == 2
    fresh.load_official_state_dict(model.official_state_dict())


def test_iclrec_intent_is_nearest_raw_centroid() -> None:
    data = tiny_data()
    model = tiny_iclrec(data, k=2)
    e1, e2 = torch.eye(8)[0], torch.eye(8)[1]
    # h = e1: raw distances 16 (to 5 e1) and 0.25 (to e1 + 0.5 e2); normalised, 5 e1 would be the nearer one
    model.raw_centroids.copy_(torch.stack([5 * e1, e1 + 0.5 * e2]))
    seq_out = torch.stack([e1, e1, e1])[None].repeat(2, 1, 1)  # (2, 3, 8), mean = e1
    seq_out[1] = torch.stack([5 * e1, 5 * e1, 5 * e1])  # mean 5 e1: nearest raw centroid is row 0
    assert model.assign_intents(seq_out).tolist() == [1, 0]
    normalised = torch.nn.functional.normalize(model.raw_centroids, dim=1)
    assert ((seq_out[0].mean(0) - normalised) ** 2).sum(-1).argmin() == 0  # the other space would differ


def test_iclrec_needs_epoch_start_and_contrast_types() -> None:
    data = tiny_data()
    model = tiny_iclrec(data)
    with pytest.raises(RuntimeError, match="on_epoch_start"):
        model.loss(first_batch(model, data))
    intent_only = tiny_iclrec(data, contrast_type="IntentCL", cf_weight=0.0)
    intent_only.on_epoch_start(ctx_for(data))
    assert set(intent_only.loss(first_batch(intent_only, data))) == {"rec", "intent_cl"}
    instance = tiny_iclrec(data, contrast_type="InstanceCL")
    instance.on_epoch_start(ctx_for(data))
    assert instance.raw_centroids.abs().sum() == 0  # no k-means without intents
    assert set(instance.loss(first_batch(instance, data))) == {"rec", "seq_cl"}
    warm = tiny_iclrec(data, warm_up_epochs=1)
    warm.on_epoch_start(ctx_for(data, epoch=0))
    assert set(warm.loss(first_batch(warm, data))) == {"rec", "seq_cl"}
    warm.on_epoch_start(ctx_for(data, epoch=1))
    assert set(warm.loss(first_batch(warm, data))) == {"rec", "seq_cl", "intent_cl"}


def test_iclrec_settings_follow_the_scripts() -> None:
    layers = {"Beauty": 1, "Sports_and_Outdoors": 2, "Toys_and_Games": 3, "Yelp": 2}
    for dataset, n in layers.items():
        _, cfg = resolve_config("iclrec", dataset)
        assert (cfg.layers, cfg.k, cfg.contrast_type, cfg.cf_weight, cfg.intent_cf_weight, cfg.max_len) == \
            (n, 256, "Hybrid", 0.1, 0.1, 50), dataset
    _, ml = resolve_config("iclrec", "ml-1m")
    assert (ml.layers, ml.contrast_type, ml.cf_weight, ml.intent_cf_weight, ml.max_len) == \
        (2, "IntentCL", 0.0, 0.1, 200)
    model, _ = build_model("iclrec", "Beauty", 50)
    assert model.augment.tau == 0.2 and model.augment.gamma == 0.7 and model.augment.beta == 0.2
    assert model.augment.mask_value == 0 and not model.augment.distinct_pair


@pytest.mark.slow
def test_iclrec_loads_released_beauty_checkpoint(shared_dir: Path, tmp_path_factory) -> None:
    from elcrec.checkpoint import load_state_dict
    from elcrec.evaluate import rank_targets

    data = load_dataset("Beauty", data_dir=tmp_path_factory.getbasetemp() / "iclrec-data", mirror=shared_dir / "data")
    model, _ = build_model("iclrec", "Beauty", data.item_size)
    state, _ = load_state_dict(shared_dir / "checkpoints" / "ICLRec-Beauty-1.pt")
    assert set(model.official_state_dict()) == set(state)
    model.load_official_state_dict(state)
    model.eval()
    metrics = rank_targets(model.score, data.eval_split("test"), data.item_size).metrics
    assert round(metrics["HR@5"], 4) == 0.0500
    assert round(metrics["NDCG@20"], 4) == 0.0483
    assert round(metrics["HR@20"], 4) == 0.1058 and round(metrics["NDCG@5"], 4) == 0.0326


# --- CL4SRec -----------------------------------------------------------------------------------------
def tiny_cl4srec(data: SequenceData, **kw) -> CL4SRec:
    torch.manual_seed(0)
    return CL4SRec(data.item_size, CL4SRecConfig(**{**TINY, "layers": 2, **kw}))


def test_cl4srec_sslrec_terms_match_reference() -> None:
    data = tiny_data()
    model = tiny_cl4srec(data)
    assert not model.needs_negatives and model.augment.distinct_pair
    batch = first_batch(model, data)
    assert batch.target_neg is None
    terms = model.loss(batch)
    assert set(terms) == {"rec", "cl"} and model.loss_weights == {"rec": 1.0, "cl": 0.1}
    enc = model.encoder
    assert not enc.causal  # SSLRec's mask is padding only
    with torch.no_grad():
        h = enc(batch.input_ids)[:, -1]
        targets = torch.tensor([int(row[-1]) for row in batch.target_pos])  # the last item of s[:-2]
        table = enc.item_embeddings.weight[: data.item_size - 1]  # rows 0..item_num: pad in, mask token out
        z1, z2 = enc(batch.views[0])[:, -1], enc(batch.views[1])[:, -1]
        assert close(terms["rec"], ref_ce(h, targets, table))
        assert close(terms["cl"], ref_nce(z1, z2))
        # the full table (with the mask row) would give another value
        assert not close(terms["rec"], ref_ce(h, targets, enc.item_embeddings.weight))


def test_cl4srec_ce_covers_every_item() -> None:
    data = tiny_data()
    model = tiny_cl4srec(data)
    model.loss(first_batch(model, data))["rec"].backward()
    grad = model.encoder.item_embeddings.weight.grad
    rows_with_grad = (grad.abs().sum(1) > 0).nonzero().flatten().tolist()
    assert rows_with_grad == list(range(data.item_size - 1))  # pad and every item 1..num_items; not the mask id


def test_cl4srec_ce_all_positions_option() -> None:
    data = tiny_data()
    with pytest.raises(ValueError, match="causal"):
        CL4SRecConfig(**TINY, ce_positions="all").validate()
    model = tiny_cl4srec(data, ce_positions="all", attention="causal")
    batch = first_batch(model, data)
    with torch.no_grad():
        out = model.encoder(batch.input_ids)
        keep = batch.target_pos > 0
        expected = ref_ce(out[keep], batch.target_pos[keep], model.encoder.item_embeddings.weight[:-1])
        assert close(model.loss(batch)["rec"], expected)


def classify_view(view: torch.Tensor, length: int, mask_id: int) -> str:
    items = view[view > 0]
    if (items == mask_id).any():
        return "mask"
    return "crop" if len(items) < length else "reorder"


def test_cl4srec_views_never_share_an_operator() -> None:
    data = tiny_data(num_users=300, num_items=40, length=(13, 13), seed=2, max_len=12)  # inputs of 10 items
    model = tiny_cl4srec(data)
    aug = model.augment
    assert (aug.tau, aug.gamma, aug.beta, aug.mask_value) == (0.6, 0.3, 0.6, data.item_size - 1)
    first, second = draw_ops(5000, aug, np.random.default_rng(0))
    assert (first != second).all() and set(first) == set(second) == {0, 1, 2}
    builder = EpochBuilder(data, 300, model.needs_negatives, model.augment)
    v1, v2 = builder.views_for(np.arange(300), np.random.default_rng(5))
    pairs = [(classify_view(a, 10, model.mask_id), classify_view(b, 10, model.mask_id)) for a, b in zip(v1, v2)]
    assert all(p != q for p, q in pairs)
    assert {p for p, _ in pairs} == set(OPS)
    crops = [a for a, (p, _) in zip(v1, pairs) if p == "crop"]
    assert all(int((c > 0).sum()) == 6 for c in crops)  # floor(0.6 * 10) kept
    masks = [a for a, (p, _) in zip(v1, pairs) if p == "mask"]
    assert all(int((m == model.mask_id).sum()) == 3 for m in masks)  # floor(0.3 * 10) masked


def test_cl4srec_seq_aug_rows_are_sslrecs_prefix_samples() -> None:
    from baselines.cl4srec import prefix_ends, prefix_rows

    assert prefix_ends(5) == [1, 2, 4]  # T[:1]->T[1], T[:2]->T[2], T[:4]->T[4]; T[:3]->T[3] skipped, as SSLRec
    assert prefix_ends(2) == [1] and prefix_ends(1) == []
    data = SequenceData.from_lists([[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11], [5, 6, 7]], max_len=4)
    rows = prefix_rows(data)
    inputs = [[i for i in row if i] for row in rows.train_inputs.tolist()]
    targets = rows.train_targets[:, -1].tolist()
    # user 0: T = [1..5]; user 1: T = [8, 9]; user 2: T = [5] has no sample
    assert list(zip(map(tuple, inputs), targets)) == [((1,), 2), ((1, 2), 3), ((1, 2, 3, 4), 5), ((8,), 9)]
    model = tiny_cl4srec(data, seq_aug=True)
    assert model.train_overrides["max_epochs"] == 30 and model.train_overrides["batch_size"] == 512
    builder = model.epoch_builder(data, 16)
    assert builder.data.num_users == 4 and builder.num_batches() == 1
    with pytest.raises(ValueError, match="SSLRec"):
        CL4SRecConfig(variant="iclrec", seq_aug=True).validate()


def test_cl4srec_chain_views_builds_view_two_on_an_in_place_first_view() -> None:
    from baselines.cl4srec import ChainedViewBuilder

    seq = list(range(1, 13))
    data = SequenceData.from_lists([seq + [20, 21, 22]] * 300, max_len=12)
    mask = data.item_size - 1
    plain = tiny_cl4srec(data)
    chained = tiny_cl4srec(data, chain_views=True)
    assert isinstance(chained.epoch_builder(data, 300), ChainedViewBuilder)
    for model, chains in ((plain, False), (chained, True)):
        batch = next(iter(model.epoch_builder(data, 300).epoch(1, 0)))
        v1, v2 = (v.tolist() for v in batch.views)
        first_mask = [r for r in range(300) if mask in v1[r]]
        assert first_mask  # some rows drew mask first (then crop or reorder: never a mask of their own)
        carried = [v2[r].count(mask) for r in first_mask]
        if chains:  # view 2 carries view 1's mask tokens (a reorder keeps all, a crop a subset)
            assert sum(carried) > 0 and all(c <= v1[r].count(mask) for c, r in zip(carried, first_mask))
            assert any(c == v1[r].count(mask) for c, r in zip(carried, first_mask))
        else:
            assert sum(carried) == 0
        # after a crop first (a copy in SSLRec), view 2 starts from the original sequence either way
        crop_first = [r for r in range(300) if 0 < sum(1 for i in v1[r] if i) < len(seq)]  # s[:-3] = seq
        assert crop_first
        for r in crop_first:
            if mask not in v2[r]:
                assert sorted(i for i in v2[r] if i) == seq  # a reorder of the untouched s[:-3]


def test_cl4srec_never_ranks_the_mask_token() -> None:
    data = tiny_data()
    model = tiny_cl4srec(data).eval()
    with torch.no_grad():
        scores = model.score(data.eval_split("test").inputs[:5])
        assert (scores[:, model.mask_id] == MASKED_SCORE).all()
        assert torch.equal(scores[:, :-1], model.encoder.score(data.eval_split("test").inputs[:5])[:, :-1])


def test_cl4srec_iclrec_variant_terms_match_reference() -> None:
    data = tiny_data()
    model = tiny_cl4srec(data, variant="iclrec")
    assert model.needs_negatives and model.encoder.causal and model.train_overrides == {}
    aug = model.augment
    assert (aug.tau, aug.gamma, aug.beta, aug.mask_value, aug.distinct_pair) == (0.2, 0.7, 0.2, 0, False)
    batch = first_batch(model, data)
    check_bce_and_flat_nce(model, batch, batch.views[0], batch.views[1])


def test_cl4srec_variant_defaults_and_overrides() -> None:
    _, ssl = resolve_config("cl4srec", "Beauty")
    assert (ssl.variant, ssl.layers, ssl.heads, ssl.attn_dropout, ssl.hidden_dropout, ssl.attention) == \
        ("sslrec", 2, 2, 0.1, 0.1, "bidirectional")
    model = CL4SRec(50, ssl)
    assert model.train_overrides == {"batch_size": 512, "max_epochs": 200}
    _, icl = resolve_config("cl4srec-iclrec", "Beauty")
    assert (icl.variant, icl.attn_dropout, icl.hidden_dropout, icl.attention, icl.crop_keep) == \
        ("iclrec", 0.5, 0.5, "causal", 0.2)
    _, explicit = resolve_config("cl4srec-iclrec", "Beauty", {"attn_dropout": "0.3", "mask_ratio": "0.5"})
    assert explicit.attn_dropout == 0.3 and explicit.hidden_dropout == 0.5 and explicit.mask_ratio == 0.5


# --- one epoch through the Trainer on a real subset of Beauty (about 1 s each on an idle 2-core CPU) --
@pytest.fixture(scope="module")
def beauty_subset(shared_dir: Path, tmp_path_factory) -> SequenceData:
    data = load_dataset("Beauty", data_dir=tmp_path_factory.getbasetemp() / "baseline-data", mirror=shared_dir / "data")
    return data.subset(np.arange(300))


@pytest.mark.parametrize("name", ["sasrec", "iclrec", "cl4srec", "cl4srec-iclrec", "coserec"])
def test_one_epoch_through_trainer(name: str, beauty_subset: SequenceData, tmp_path: Path) -> None:
    torch.manual_seed(1)
    overrides = {"k": 16} if name == "iclrec" else {}
    model, mcfg = build_model(name, "Beauty", beauty_subset.item_size, overrides)
    tcfg = TrainConfig()
    for key, value in model.train_overrides.items():  # as the CLI: the model's protocol, then --max-epochs
        setattr(tcfg, key, value)
    tcfg.max_epochs = 1
    meta = {"model": name, "dataset": "Beauty", "seed": 1, "model_config": dataclasses.asdict(mcfg)}
    metrics = Trainer(model, beauty_subset, tcfg, tmp_path, torch.device("cpu"), 1, meta).fit()
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["status"] == "ok" and written["epochs"] == 1 and written["model"] == name
    assert set(written["test"]) == set(metrics["test"]) and all(0 <= v <= 1 for v in written["test"].values())
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert len(log) == 2 and all(f"loss_{k}" in log[0] for k in model.loss_weights)
    saved = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert set(saved) == set(model.encoder.state_dict())


# --- CoSeRec -----------------------------------------------------------------------------------------


def ref_itemcf_iuf(seqs: list[list[int]]) -> dict[int, tuple[int, float]]:
    """ItemCF-IUF on the training parts s[:-3] with dicts; neighbour = first of a stable sort by score."""
    co: dict[int, dict[int, float]] = {}
    count: dict[int, int] = {}
    for seq in seqs:
        items = list(dict.fromkeys(seq[:-3]))
        for i in items:
            count[i] = count.get(i, 0) + 1
            for j in items:
                if i != j:
                    co.setdefault(i, {})
                    co[i][j] = co[i].get(j, 0.0) + 1 / np.log(1 + len(items))
    sim = {i: {j: c / np.sqrt(count[i] * count[j]) for j, c in row.items()} for i, row in co.items()}
    scores = [s for row in sim.values() for s in row.values()]
    lo, hi = min(scores), max(scores)
    out = {}
    for i, row in sim.items():
        neighbour, value = sorted(row.items(), key=lambda kv: kv[1], reverse=True)[0]  # stable: dict order on ties
        out[i] = (neighbour, (value - lo) / (hi - lo))
    return out


def coserec_seqs() -> list[list[int]]:
    rng = np.random.default_rng(7)
    seqs = [list(rng.choice(np.arange(1, 31), size=7, replace=False)) for _ in range(30)]  # inputs of 4 items
    seqs += [list(rng.choice(np.arange(1, 31), size=13, replace=False)) for _ in range(30)]  # inputs of 10 items
    return [[int(x) for x in s] for s in seqs]


@pytest.mark.parametrize("sparse", [False, True])
def test_coserec_offline_similarity_matches_reference(sparse: bool) -> None:
    seqs = coserec_seqs()
    if sparse:  # many items seen once: ties everywhere, resolved by first co-occurring user, then position
        rng = np.random.default_rng(3)
        seqs = [[int(x) for x in rng.choice(np.arange(1, 80), size=int(rng.integers(5, 9)), replace=False)]
                for _ in range(40)]
    best, score = offline_top1(SequenceData.from_lists(seqs, max_len=12))
    ref = ref_itemcf_iuf(seqs)
    assert set(np.flatnonzero(best >= 0)) == set(ref)
    for item, (neighbour, s) in ref.items():
        assert best[item] == neighbour, item
        assert abs(score[item] - s) < 1e-9


def test_coserec_online_similarity_matches_brute_force() -> None:
    torch.manual_seed(0)
    emb = torch.randn(23, 5)
    best, score = online_top1(emb, chunk=7)
    sims = emb @ emb.T
    lo, hi = sims[1:].min(), sims[1:].max()
    for i in range(23):
        order = sims[i].argsort(descending=True)[:2].tolist()
        j = order[1] if order[0] == i else order[0]
        assert best[i] == j and abs(score[i] - float((sims[i, j] - lo) / (hi - lo))) < 1e-6


def test_coserec_insert_and_substitute() -> None:
    items = np.arange(1, 11)
    neighbour = np.arange(12) + 100  # recognisable neighbours
    starts, lengths = np.array([0, 0]), np.array([10, 10])
    views = informed_views(items, starts, lengths, np.array([True, False]), np.array([0.4, 0.1]), neighbour, 20,
                           np.random.default_rng(0))
    ins = views[0][views[0] > 0].tolist()
    assert len(ins) == 14 and [x for x in ins if x < 100] == list(range(1, 11))  # int(0.4 * 10) inserted
    assert all(ins[k + 1] == ins[k] - 100 for k in range(len(ins)) if ins[k] >= 100)  # each before its item
    sub = views[1][views[1] > 0].tolist()
    changed = [k for k in range(10) if sub[k] != k + 1]
    assert len(sub) == 10 and len(changed) == 1 and sub[changed[0]] == changed[0] + 1 + 100


def classify_coserec(view: torch.Tensor, original: list[int]) -> str:
    items = view[view > 0].tolist()
    n = len(original)
    if len(items) > n:
        return "insert"
    if len(items) == n:
        return "reorder" if sorted(items) == sorted(original) else "substitute"
    return "crop" if len(items) == max(int(0.2 * n), 1) else "mask"


def test_coserec_operator_sets_depend_on_length() -> None:
    data = SequenceData.from_lists(coserec_seqs(), max_len=20)
    torch.manual_seed(0)
    model = CoSeRec(data.item_size, CoSeRecConfig(**{**TINY, "max_len": 20}))  # threshold 4, short set SIM
    assert model.augment is None and model.needs_negatives
    seen: dict[int, set[str]] = {4: set(), 10: set()}
    for epoch in range(4):
        model.on_epoch_start(ctx_for(data, epoch=epoch))
        for view in model.views:
            for u in range(data.num_users):
                original = data.items[data.offsets[u] : data.offsets[u + 1] - 3].tolist()
                seen[len(original)].add(classify_coserec(view[u], original))
    assert seen[4] == {"insert", "substitute", "mask"}  # L <= threshold: SIM
    assert seen[10] == {"insert", "crop", "mask", "reorder", "substitute"}


def test_coserec_terms_and_hybrid_switch() -> None:
    data = tiny_data()
    torch.manual_seed(0)
    model = CoSeRec(data.item_size, CoSeRecConfig(**TINY, layers=1, augmentation_warm_up_epochs=1))
    with pytest.raises(RuntimeError, match="on_epoch_start"):
        model.loss(first_batch(model, data))
    model.on_epoch_start(ctx_for(data, epoch=1))  # epoch <= warm-up: offline neighbours
    off_best, off_score = model.offline
    known = off_best >= 0
    assert np.array_equal(model.neighbour[known], off_best[known])
    batch = first_batch(model, data)
    check_bce_and_flat_nce(model, batch, model.views[0][batch.users], model.views[1][batch.users])
    enc = model.encoder
    model.on_epoch_start(ctx_for(data, epoch=2))  # epoch > warm-up: the better of offline and online per item
    on_best, on_score = online_top1(enc.item_embeddings.weight.detach())
    expected = np.where(off_score >= on_score, off_best, on_best)
    assert np.array_equal(model.neighbour[known], expected[known])
    assert (model.neighbour != np.where(known, off_best, model.neighbour)).any()


def test_coserec_settings_follow_the_scripts() -> None:
    _, beauty = resolve_config("coserec", "Beauty")
    assert (beauty.augment_threshold, beauty.augmentation_warm_up_epochs, beauty.augment_type_for_short,
            beauty.insert_rate, beauty.substitute_rate, beauty.layers) == (12, 220, "SIMRC", 0.5, 0.05, 2)
    _, sports = resolve_config("coserec", "Sports_and_Outdoors")
    assert (sports.augment_threshold, sports.augmentation_warm_up_epochs, sports.augment_type_for_short,
            sports.insert_rate, sports.substitute_rate) == (4, 160, "SIM", 0.4, 0.1)
    _, yelp = resolve_config("coserec", "Yelp")
    assert (yelp.augmentation_warm_up_epochs, yelp.insert_rate) == (300, 0.5)
