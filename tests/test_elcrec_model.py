"""Tests for the ELCRec model (method doc §2.2-2.8): every loss term, the centres, the variants, checkpoints.

The loss terms are recomputed here from the encoder's outputs with plain tensor algebra written independently
of ``elcrec.nn.losses`` (explicit differences instead of the ||x||^2 + ||c||^2 - 2xc expansion, per-anchor
logsumexp over the 2n x 2n Gram matrix instead of the block-built logits, per-position Python loops for the BCE
and the fusion). Dropout is 0 so the three encoder passes inside ``loss()`` are deterministic, and everything
runs in float64 so the comparisons can be tight. The hand-set centres deliberately do NOT have unit norm: the
code fuses the views with the centres *before* it re-normalises them, and uses the normalised ones for ELCM and
intent-CL, and the test values differ if that order is changed.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
import torch

from elcrec.data.batches import Batch
from elcrec.data.sequences import SequenceData
from elcrec.errors import HarnessError
from elcrec.models.base import TrainContext
from elcrec.models.elcrec import ELCRec, ELCRecConfig
from elcrec.models.registry import build_model
from elcrec.nn.losses import bce_next_item




ITEM_SIZE = 20  # pad 0, items 1..18, mask id 19
HIDDEN, K, MAX_LEN = 8, 3, 6
DT = torch.float64

# 4 users, left-padded; targets are the next items (0 under the pads), one negative per target position.
INPUT_IDS = [[0, 0, 3, 5, 7, 2], [0, 0, 0, 0, 1, 4], [6, 8, 10, 12, 14, 16], [0, 0, 0, 9, 11, 13]]
TARGET_POS = [[0, 0, 5, 7, 2, 4], [0, 0, 0, 0, 4, 8], [8, 10, 12, 14, 16, 18], [0, 0, 0, 11, 13, 15]]
TARGET_NEG = [[0, 0, 17, 1, 19, 9], [0, 0, 0, 0, 12, 3], [2, 4, 19, 1, 3, 5], [0, 0, 0, 6, 18, 7]]
VIEW_1 = [[0, 0, 0, 0, 3, 5], [0, 0, 0, 0, 0, 4], [6, 0, 10, 0, 0, 16], [0, 0, 0, 11, 9, 13]]
VIEW_2 = [[0, 0, 0, 5, 3, 7], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 12, 14], [0, 0, 0, 0, 0, 11]]


def t(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def make_batch() -> Batch:
    return Batch(users=torch.arange(4), input_ids=t(INPUT_IDS), target_pos=t(TARGET_POS),
                 target_neg=t(TARGET_NEG), views=(t(VIEW_1), t(VIEW_2)))


def hand_centres() -> torch.Tensor:
    """k x hidden centres with norms 0.8, 1.5 and 2.5 (not unit: the order of renormalisation matters).

    The seed was picked so that, with this batch and model, every assignment rule gives a different answer
    (see the guard test below)."""
    g = torch.Generator().manual_seed(2)
    raw = torch.randn(K, HIDDEN, generator=g, dtype=DT)
    return raw / raw.norm(dim=1, keepdim=True) * torch.tensor([[0.8], [1.5], [2.5]], dtype=DT)


def tiny_cfg(**kw) -> ELCRecConfig:
    base = dict(hidden=HIDDEN, layers=1, heads=2, max_len=MAX_LEN, attn_dropout=0.0, hidden_dropout=0.0, k=K,
                alpha=1.0, fusion="shift", center_init="random")
    base.update(kw)
    return ELCRecConfig(**base)


def make_model(**kw) -> ELCRec:
    torch.manual_seed(0)
    model = ELCRec(ITEM_SIZE, tiny_cfg(**kw)).to(DT)
    if model.cluster_centers is not None:
        with torch.no_grad():
            model.cluster_centers.copy_(hand_centres())
    model.train()
    return model


# ------------------------------------------------------------------------------------ independent references


def ref_bce(out: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    total, count = torch.zeros((), dtype=out.dtype), 0
    for b in range(out.shape[0]):
        for s in range(out.shape[1]):
            if int(pos[b, s]) == 0:
                continue
            p = torch.dot(out[b, s], emb[int(pos[b, s])])
            n = torch.dot(out[b, s], emb[int(neg[b, s])])
            total = total - torch.log(1 / (1 + torch.exp(-p)) + 1e-24) - torch.log(1 - 1 / (1 + torch.exp(-n)) + 1e-24)
            count += 1
    return total / count


def ref_ntxent(a: torch.Tensor, b: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """SimCLR form: z = [a; b], anchor i's positive is i +- n, its negatives all other 2n - 2 rows."""
    z = torch.cat([a, b])
    n2 = z.shape[0]
    gram = z @ z.T / temperature
    losses = []
    for i in range(n2):
        partner = (i + n2 // 2) % n2
        others = torch.stack([gram[i, j] for j in range(n2) if j != i])
        losses.append(torch.logsumexp(others, 0) - gram[i, partner])
    return torch.stack(losses).mean()


def nearest(x: torch.Tensor, centres: torch.Tensor) -> int:
    return int(((x[None, :] - centres) ** 2).sum(-1).argmin())


def ref_fuse(out: torch.Tensor, centres: torch.Tensor, fusion: str, assign: str) -> torch.Tensor:
    rows = []
    for b in range(out.shape[0]):
        seq_choice = nearest(out[b].mean(0), centres)
        parts = []
        for s in range(out.shape[1]):
            c = centres[seq_choice if assign == "sequence" else nearest(out[b, s], centres)]
            if fusion == "shift":
                parts.append(out[b, s] + c)
            elif fusion == "concat":
                parts.append(torch.cat([out[b, s], c]))
            else:
                parts.append(out[b, s])
        rows.append(torch.cat(parts))
    return torch.stack(rows)


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def ref_cluster(h_hat: torch.Tensor, c_hat: torch.Tensor, center_mean: str = "k2") -> torch.Tensor:
    d_hc = ((h_hat[:, None, :] - c_hat[None, :, :]) ** 2).sum(-1)
    d_cc = ((c_hat[:, None, :] - c_hat[None, :, :]) ** 2).sum(-1)
    k = c_hat.shape[0]
    denom = k * k if center_mean == "k2" else k * (k - 1)
    return d_hc.sum() / d_hc.numel() - d_cc.sum() / denom


def reference_terms(model: ELCRec, batch: Batch, centres_raw: torch.Tensor, craw_leaf: bool = False):
    """Expected loss terms. Returns (terms, leaves) where the leaves stand for C in the fusion (raw) and in
    ELCM/intent-CL (normalised), so that gradients can be compared too."""
    cfg = model.cfg
    enc = model.encoder
    out = enc(batch.input_ids)
    b = out.shape[0]
    views_out = enc(torch.cat(batch.views))
    c_raw = centres_raw.clone().requires_grad_(True)
    c_hat = unit(centres_raw.detach()).clone().requires_grad_(True)
    terms = {"rec": ref_bce(out, batch.target_pos, batch.target_neg, enc.item_embeddings.weight)}
    fusion = cfg.fusion if cfg.use_icl else "none"
    fused = ref_fuse(views_out, c_raw, fusion, cfg.fusion_assign)
    terms["seq_cl"] = ref_ntxent(fused[:b], fused[b:], cfg.temperature)
    h_hat = unit(out.mean(1))
    if cfg.use_elcm:
        terms["cluster"] = ref_cluster(h_hat, c_hat, cfg.center_mean)
    if cfg.use_icl:
        intents = torch.stack([c_hat[nearest(h_hat[i].detach(), c_hat.detach())] for i in range(b)])
        pooled = views_out.mean(1)
        terms["intent_cl"] = (ref_ntxent(pooled[:b], intents, cfg.temperature)
                              + ref_ntxent(pooled[b:], intents, cfg.temperature)) / 2
    return terms, (c_raw, c_hat)


# ------------------------------------------------------------------------------------------- loss terms


def test_hand_centres_make_the_assignment_rules_distinguishable() -> None:
    """Guard: with these centres the per-position, per-sequence (mean), last-position and normalised
    assignments all differ, and ELCM's intents (normalised h) differ from raw-h ones, so the loss tests below can
    tell the rules apart. If the encoder's initialisation changes, pick another seed in hand_centres()."""
    model = make_model()
    batch = make_batch()
    with torch.no_grad():
        out = model.encoder(torch.cat(batch.views))
        seq = model.encoder(batch.input_ids)
    c = hand_centres()
    n = out.shape[0]
    per_pos = [[nearest(out[b, s], c) for s in range(MAX_LEN)] for b in range(n)]
    per_pos_unit = [[nearest(out[b, s], unit(c)) for s in range(MAX_LEN)] for b in range(n)]
    per_seq = [nearest(out[b].mean(0), c) for b in range(n)]
    last = [nearest(out[b, -1], c) for b in range(n)]
    assert {j for row in per_pos for j in row} == set(range(K))
    assert any(len(set(row)) > 1 for row in per_pos)
    assert any(row != [s] * MAX_LEN for row, s in zip(per_pos, per_seq))
    assert per_pos != per_pos_unit and per_seq != last and len(set(per_seq)) > 1
    intents = [nearest(unit(seq.mean(1))[b], unit(c)) for b in range(4)]
    assert len(set(intents)) > 1 and intents != [nearest(seq[b].mean(0), c) for b in range(4)]
    assert (c.norm(dim=1) - 1).abs().min() > 0.15


@pytest.mark.parametrize("fusion, assign", [("shift", "position"), ("concat", "position"),
                                            ("shift", "sequence"), ("concat", "sequence"), ("none", "position")])
def test_each_loss_term_equals_an_independent_computation(fusion: str, assign: str) -> None:
    model = make_model(fusion=fusion, fusion_assign=assign, alpha=2.5)
    batch = make_batch()
    with torch.no_grad():
        expected, _ = reference_terms(model, batch, hand_centres())
    got = model.loss(batch)
    assert set(got) == {"rec", "seq_cl", "cluster", "intent_cl"}
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value.item(), rel=1e-10, abs=1e-10), name
    assert model.loss_weights == {"rec": 1.0, "seq_cl": 0.1, "intent_cl": 0.1, "cluster": 2.5}


def test_fusion_rules_change_seq_cl() -> None:
    """shift, concat, none and per-sequence assignment must give four different seq-CL values here."""
    batch = make_batch()
    values = {(f, a): make_model(fusion=f, fusion_assign=a).loss(batch)["seq_cl"].item()
              for f, a in [("shift", "position"), ("concat", "position"), ("none", "position"), ("shift", "sequence")]}
    assert len({round(v, 9) for v in values.values()}) == 4, values


def test_rec_term_ignores_padding_targets_and_uses_the_epsilon() -> None:
    """The BCE averages over target>0 positions only; with a saturated logit the 1e-24 epsilon bounds it."""
    out = torch.zeros(1, 3, HIDDEN, dtype=DT)
    out[0, :, 0] = 1.0
    emb = torch.zeros(ITEM_SIZE, HIDDEN, dtype=DT)
    emb[1, 0], emb[2, 0], emb[3, 0] = 2.0, -1.0, 1e4  # item 3 as a negative: sigmoid(1e4) == 1 in float64
    pos, neg = torch.tensor([[0, 1, 1]]), torch.tensor([[3, 2, 3]])

    expected = ((-math.log(1 / (1 + math.exp(-2.0))) - math.log(1 - 1 / (1 + math.exp(1.0))))
                + (-math.log(1 / (1 + math.exp(-2.0))) - math.log(1e-24))) / 2
    assert bce_next_item(out, pos, neg, emb).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("center_mean", ["k2", "k(k-1)"])
def test_centre_term_normalisation(center_mean: str) -> None:
    model = make_model(center_mean=center_mean)
    batch = make_batch()
    with torch.no_grad():
        expected, _ = reference_terms(model, batch, hand_centres())
    got = model.loss(batch)["cluster"].item()
    assert got == pytest.approx(expected["cluster"].item(), rel=1e-10, abs=1e-10)


def test_centre_term_ratio_is_k_minus_1_over_k() -> None:
    c_hat = unit(hand_centres())
    h_hat = unit(torch.randn(5, HIDDEN, generator=torch.Generator().manual_seed(1), dtype=DT))
    align = ((h_hat[:, None] - c_hat[None]) ** 2).sum(-1).mean()
    pair_sum = sum(((c_hat[i] - c_hat[j]) ** 2).sum() for i in range(K) for j in range(K) if i != j)
    loss_k2, _ = make_model(center_mean="k2").cluster_loss(h_hat, c_hat)
    loss_kk1, d_hc = make_model(center_mean="k(k-1)").cluster_loss(h_hat, c_hat)
    term_k2, term_kk1 = align - loss_k2, align - loss_kk1
    assert term_k2.item() == pytest.approx(pair_sum.item() / K**2, rel=1e-12)
    assert term_kk1.item() == pytest.approx(pair_sum.item() / (K * (K - 1)), rel=1e-12)
    assert (term_k2 / term_kk1).item() == pytest.approx((K - 1) / K, rel=1e-12)
    assert torch.allclose(d_hc, ((h_hat[:, None] - c_hat[None]) ** 2).sum(-1), atol=1e-12)


# ------------------------------------------------------------------------------------------------ centres


def test_loss_renormalises_the_centres_in_place() -> None:
    model = make_model()
    param = model.cluster_centers
    model.loss(make_batch())
    assert model.cluster_centers is param  # the same Parameter (the optimiser keeps tracking it)
    assert torch.allclose(param.detach().norm(dim=1), torch.ones(K, dtype=DT), atol=1e-12)
    assert torch.allclose(param.detach(), unit(hand_centres()), atol=1e-12)


@pytest.mark.parametrize("fusion", ["shift", "concat"])
def test_centre_gradients_match_the_reference(fusion: str) -> None:
    """C gets gradient from seq-CL (through the fused raw centres), ELCM and intent-CL (the normalised centres,
    no gradient through the in-place renormalisation) and none from the BCE."""
    model = make_model(fusion=fusion, alpha=2.5)
    batch = make_batch()
    ref, (c_raw, c_hat) = reference_terms(model, batch, hand_centres())
    terms = model.loss(batch)
    c = model.cluster_centers
    for name in ("seq_cl", "cluster", "intent_cl"):
        (grad,) = torch.autograd.grad(terms[name], c, retain_graph=True, allow_unused=True)
        assert grad is not None and grad.abs().sum() > 0, name
    (grad_rec,) = torch.autograd.grad(terms["rec"], c, retain_graph=True, allow_unused=True)
    assert grad_rec is None or not grad_rec.any()

    total = sum(model.loss_weights[k] * v for k, v in terms.items())
    (grad_total,) = torch.autograd.grad(total, c)
    ref_total = sum(model.loss_weights[k] * v for k, v in ref.items())
    ref_total.backward()
    expected = c_raw.grad + c_hat.grad
    assert torch.allclose(grad_total, expected, rtol=1e-9, atol=1e-12)


def test_no_fusion_means_no_seq_cl_gradient_into_the_centres() -> None:
    model = make_model(fusion="none")
    terms = model.loss(make_batch())
    (grad,) = torch.autograd.grad(terms["seq_cl"], model.cluster_centers, allow_unused=True)
    assert grad is None or not grad.any()


# ----------------------------------------------------------------------------------------------- variants

VARIANT_TERMS = {
    "elcrec": {"rec": 1.0, "seq_cl": 0.1, "intent_cl": 0.1, "cluster": 10.0},
    "elcrec-b": {"rec": 1.0, "seq_cl": 0.1},
    "elcrec-b-icl": {"rec": 1.0, "seq_cl": 0.1, "intent_cl": 0.1},
    "elcrec-b-elcm": {"rec": 1.0, "seq_cl": 0.1, "cluster": 10.0},
}
TINY_OVERRIDES = {"hidden": HIDDEN, "layers": 1, "max_len": MAX_LEN, "k": K, "attn_dropout": 0.0,
                  "hidden_dropout": 0.0, "center_init": "random"}


@pytest.mark.parametrize("name", list(VARIANT_TERMS))
def test_registry_variants_have_the_documented_terms_and_weights(name: str) -> None:
    torch.manual_seed(0)
    model, cfg = build_model(name, "Beauty", ITEM_SIZE, TINY_OVERRIDES)  # Beauty: alpha 10, fusion shift
    model = model.to(DT)
    assert model.loss_weights == VARIANT_TERMS[name]
    has_centres = name != "elcrec-b"
    assert (model.cluster_centers is not None) == has_centres
    assert ("cluster_centers" in model.official_state_dict()) == has_centres
    if has_centres:
        with torch.no_grad():
            model.cluster_centers.copy_(hand_centres())
    batch = make_batch()
    with torch.no_grad():
        expected, _ = reference_terms(model, batch, hand_centres())
    got = model.loss(batch)
    assert set(got) == set(VARIANT_TERMS[name]) == set(expected)
    for key in got:
        assert got[key].item() == pytest.approx(expected[key].item(), rel=1e-10, abs=1e-10), key
    if has_centres:  # the centres are renormalised whenever they exist
        assert torch.allclose(model.cluster_centers.detach().norm(dim=1), torch.ones(K, dtype=DT), atol=1e-12)


def test_variant_b_is_plain_ntxent_of_the_flattened_views() -> None:
    torch.manual_seed(0)
    model, _ = build_model("elcrec-b", "Beauty", ITEM_SIZE, TINY_OVERRIDES)
    model = model.to(DT)
    batch = make_batch()
    with torch.no_grad():
        flat = model.encoder(torch.cat(batch.views)).reshape(8, -1)
        expected = ref_ntxent(flat[:4], flat[4:])
    assert model.loss(batch)["seq_cl"].item() == pytest.approx(expected.item(), rel=1e-10)
    model.on_train_start(TrainContext(SequenceData.from_lists([[1, 2, 3, 4]]), torch.device("cpu"), 1))  # no-op


# -------------------------------------------------------------------------------------------- checkpoints


def official_keys(layers: int) -> set[str]:
    keys = {"item_embeddings.weight", "position_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias",
            "cluster_centers"}
    for i in range(layers):
        p = f"item_encoder.layer.{i}."
        for sub in ("query", "key", "value", "dense"):
            keys |= {p + f"attention.{sub}.weight", p + f"attention.{sub}.bias"}
        keys |= {p + "attention.LayerNorm.weight", p + "attention.LayerNorm.bias"}
        for sub in ("dense_1", "dense_2", "LayerNorm"):
            keys |= {p + f"intermediate.{sub}.weight", p + f"intermediate.{sub}.bias"}
    return keys


def test_official_state_dict_round_trip() -> None:
    cfg = dict(hidden=HIDDEN, layers=2, heads=2, max_len=MAX_LEN, k=K)
    torch.manual_seed(3)
    model = ELCRec(ITEM_SIZE, ELCRecConfig(**cfg))
    with torch.no_grad():
        model.cluster_centers.copy_(hand_centres().float())
    state = model.official_state_dict()
    assert set(state) == official_keys(2)
    assert state["item_encoder.layer.1.intermediate.dense_1.weight"].shape == (4 * HIDDEN, HIDDEN)
    scratch = model.official_state_dict()
    for value in scratch.values():
        value.add_(1.0)  # copies: the model is untouched
    assert torch.equal(model.cluster_centers.detach(), hand_centres().float())
    assert all(torch.equal(v, model.official_state_dict()[k]) for k, v in state.items())

    torch.manual_seed(99)
    fresh = ELCRec(ITEM_SIZE, ELCRecConfig(**cfg))
    assert not torch.equal(fresh.encoder.item_embeddings.weight, model.encoder.item_embeddings.weight)
    fresh.load_official_state_dict(state)
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    model.eval(), fresh.eval()
    ids = t(INPUT_IDS)
    assert torch.equal(fresh.score(ids), model.score(ids))


def test_official_beauty_checkpoint_round_trips(shared_dir: Path) -> None:
    path = shared_dir / "checkpoints" / "ELCRec-Beauty-1.pt"
    if not path.exists():
        pytest.skip(f"{path} not present")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = ELCRec(12103, ELCRecConfig(layers=1, k=256))
    model.load_official_state_dict(state)
    back = model.official_state_dict()
    assert set(back) == set(state) == official_keys(1)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key
    # the released centres are slightly off the unit sphere (Adam steps after the renormalisation), doc §2.3
    norms = back["cluster_centers"].norm(dim=1)
    assert back["cluster_centers"].shape == (256, 64) and 1.0 < norms.min() and norms.max() < 1.05


# -------------------------------------------------------------------------------------- k-means initialisation


def kmeans_data() -> SequenceData:
    rng = np.random.default_rng(5)
    seqs = [rng.choice(np.arange(1, 19), size=int(rng.integers(4, 12)), replace=False).tolist() for _ in range(40)]
    return SequenceData.from_lists(seqs, max_len=MAX_LEN)


def kmeans_model() -> ELCRec:
    torch.manual_seed(0)  # dropout on: the k-means data must come from eval mode anyway
    model = ELCRec(ITEM_SIZE, ELCRecConfig(hidden=HIDDEN, layers=1, max_len=MAX_LEN, k=K, center_init="kmeans"))
    model.train()
    return model


def test_kmeans_init_gives_unit_norm_centres_of_the_eval_mode_pooled_embeddings(monkeypatch) -> None:
    import elcrec.models.elcrec as mod

    seen = {}
    real = mod.faiss_kmeans

    def spy(x, k, seed, niter, nredo):
        seen.update(x=np.array(x), k=k, seed=seed, niter=niter, nredo=nredo)
        seen["out"] = real(x, k, seed, niter, nredo)
        return seen["out"]

    monkeypatch.setattr(mod, "faiss_kmeans", spy)
    data = kmeans_data()
    model = kmeans_model()
    model.on_train_start(TrainContext(data, torch.device("cpu"), seed=7, batch_size=16))
    assert model.training  # mode restored

    model.eval()
    with torch.no_grad():
        pooled = model.encoder(data.train_inputs).mean(1).numpy()  # all max_len positions, pads included
    assert np.allclose(seen["x"], pooled, atol=1e-6)
    assert (seen["k"], seen["seed"], seen["niter"], seen["nredo"]) == (K, 7, 20, 5)

    centres = model.cluster_centers.detach()
    assert centres.shape == (K, HIDDEN)
    assert torch.allclose(centres.norm(dim=1), torch.ones(K), atol=1e-6)
    raw = torch.from_numpy(seen["out"])
    assert torch.allclose(centres, raw / raw.norm(dim=1, keepdim=True), atol=1e-6)
    # the raw centroids are a k-means fixed point of the pooled data: each is the mean of its members
    x = torch.from_numpy(pooled)
    assign = ((x[:, None] - raw[None]) ** 2).sum(-1).argmin(1)
    for j in range(K):
        assert (assign == j).any()
        assert torch.allclose(raw[j], x[assign == j].mean(0), atol=1e-4)


def test_kmeans_init_is_deterministic_for_a_seed() -> None:
    data = kmeans_data()
    a, b = kmeans_model(), kmeans_model()
    a.on_train_start(TrainContext(data, torch.device("cpu"), seed=7))
    b.on_train_start(TrainContext(data, torch.device("cpu"), seed=7))
    assert torch.equal(a.cluster_centers, b.cluster_centers)
    assert a.cluster_centers.abs().sum() > 0  # replaced the zero placeholder


def test_kmeans_with_too_few_users_is_a_harness_error() -> None:
    data = SequenceData.from_lists([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], max_len=MAX_LEN)
    with pytest.raises(HarnessError):
        kmeans_model().on_train_start(TrainContext(data, torch.device("cpu"), seed=1))
