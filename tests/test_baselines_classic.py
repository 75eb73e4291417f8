"""Tests for BPR-MF, GRU4Rec and Caser (baselines/{bprmf,gru4rec,caser}.py) and the contract they extend.

Each loss is recomputed here on a fixed tiny batch with plain Python loops (math.log, explicit sigmoids, the
convolutions as sums over window entries), independently of the modules' vectorised code; the samplers are
checked on hand-made sequences: BPR's distinct users, positives from ``s[:-2]`` and negatives outside it, Caser's
windows and targets as ``interactions.py`` makes them, GRU4Rec's state that padding never reaches.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.bprmf import BPRMF, BPRMFConfig, BPRSampler
from baselines.caser import Caser, CaserConfig, CaserWindows, caser_windows
from baselines.gru4rec import GRU4Rec, GRU4RecConfig, right_align
from elcrec.data.sequences import SequenceData
from elcrec.evaluate import rank_targets
from elcrec.models.registry import MODELS, build_model, resolve_config
from elcrec.report.names import TABLE1_COLUMNS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DT = torch.float64
# items 1..12 -> item_size 14; training parts s[:-2]: [1..9], [3, 5], [11, 12, 1, 2, 3, 4, 5, 6, 7, 8], [2, 4, 6]
SEQS = [list(range(1, 12)), [3, 5, 7, 9], [11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 4, 6, 8, 10]]
ITEM_SIZE = 14


def tiny_data(max_len: int = 8) -> SequenceData:
    return SequenceData.from_lists(SEQS, max_len=max_len)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --- BPR-MF ------------------------------------------------------------------------------------------
def tiny_bpr(**kw) -> BPRMF:
    torch.manual_seed(0)
    return BPRMF(ITEM_SIZE, BPRMFConfig(**{"hidden": 4, "num_users": len(SEQS), **kw})).to(DT)


def test_bpr_sampler_draws_distinct_users_training_positives_and_unseen_negatives() -> None:
    data = tiny_data()
    train = [s[:-2] for s in SEQS]
    sampler = BPRSampler(data, batch_size=3)
    assert sampler.num_batches() == sum(map(len, train)) // 3 + 1  # NGCF: n_train // batch_size + 1
    negatives_seen: set[int] = set()
    batches = list(sampler.epoch(seed=1, epoch=0)) + list(sampler.epoch(seed=1, epoch=1))
    for batch in batches:
        users = batch.user_ids.tolist()
        assert len(set(users)) == len(users) == 3 and users == batch.users.tolist()
        for u, i, j in zip(users, batch.target_pos.tolist(), batch.target_neg.tolist()):
            assert i in train[u]
            assert j not in train[u] and 1 <= j <= 12  # never pad 0 or the mask id 13
            negatives_seen.add(j) if j in SEQS[u][-2:] else None
    assert negatives_seen  # valid/test items are not training items: they may be negatives, as in NGCF
    again = list(BPRSampler(data, batch_size=3).epoch(seed=1, epoch=0))
    assert all(torch.equal(a.target_neg, b.target_neg) for a, b in zip(again, batches))  # (seed, epoch) only


def test_bpr_sampler_covers_positives_uniformly() -> None:
    data = tiny_data()
    sampler = BPRSampler(data, batch_size=4)  # every user in every batch
    counts: dict[int, int] = {}
    for epoch in range(60):
        for batch in sampler.epoch(seed=2, epoch=epoch):
            for u, i in zip(batch.user_ids.tolist(), batch.target_pos.tolist()):
                if u == 3:
                    counts[i] = counts.get(i, 0) + 1
    assert set(counts) == {2, 4, 6} and max(counts.values()) / min(counts.values()) < 1.3


def test_bpr_loss_matches_reference() -> None:
    model = tiny_bpr(reg=0.1)
    model.batch_size = 4
    users, pos, neg = torch.tensor([0, 2, 3]), torch.tensor([1, 11, 4]), torch.tensor([12, 9, 7])
    from elcrec.data.batches import Batch
    batch = Batch(users=users, input_ids=torch.zeros(3, 0, dtype=torch.long), target_pos=pos, target_neg=neg,
                  user_ids=users)
    terms = model.loss(batch)
    U, E = model.user_embeddings.weight.detach(), model.item_embeddings.weight.detach()
    mf, l2 = 0.0, 0.0
    for u, i, j in zip(users.tolist(), pos.tolist(), neg.tolist()):
        x = sum(U[u, d].item() * (E[i, d].item() - E[j, d].item()) for d in range(4))
        mf -= math.log(sig(x))
        l2 += sum(U[u, d].item() ** 2 + E[i, d].item() ** 2 + E[j, d].item() ** 2 for d in range(4))
    assert terms["bpr"].item() == pytest.approx(mf / 3, rel=1e-12)
    assert terms["reg"].item() == pytest.approx(0.1 * (l2 / 2) / 4, rel=1e-12)  # tf.nn.l2_loss / batch_size
    scores = model.score(torch.zeros(2, 5, dtype=torch.long), user_ids=torch.tensor([1, 3]))
    assert torch.allclose(scores, torch.stack([U[1] @ E.T, U[3] @ E.T]))
    assert (scores[:, 0] == 0).all() and (scores[:, -1] == 0).all()  # pad and mask rows are zero


def test_tf_rmsprop_sparse_rows_and_ones_init() -> None:
    from elcrec.nn.optim import TFRMSProp

    p = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DT))
    opt = TFRMSProp([p], lr=0.1, sparse_rows=True)
    p.grad = torch.tensor([[0.5, -1.0], [0.0, 0.0]], dtype=DT)
    opt.step()
    ms = 0.9 * 1.0 + 0.1 * np.array([0.25, 1.0])  # tf: mean square starts at 1
    assert np.allclose(p.detach()[0].numpy(), np.array([1.0, 2.0]) - 0.1 * np.array([0.5, -1.0]) / np.sqrt(ms + 1e-10))
    assert torch.equal(p.detach()[1], torch.tensor([3.0, 4.0], dtype=DT))
    assert torch.equal(opt.state[p]["ms"][1], torch.ones(2, dtype=DT))  # an untouched row keeps its mean square


# --- GRU4Rec -----------------------------------------------------------------------------------------
def tiny_gru(**kw) -> GRU4Rec:
    torch.manual_seed(0)
    return GRU4Rec(ITEM_SIZE, GRU4RecConfig(**{"hidden": 4, "gru_hidden": 6, "dropout": 0.0, "max_len": 8, **kw})
                   ).to(DT).eval()


def test_right_align_moves_items_to_the_front() -> None:
    ids = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [0, 0, 0, 0, 7]])
    aligned, length, _ = right_align(ids)
    assert aligned.tolist() == [[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [7, 0, 0, 0, 0]]
    assert length.tolist() == [3, 5, 0, 1]


def test_gru4rec_state_starts_at_the_first_item_whatever_the_padding() -> None:
    model = tiny_gru()
    seq = [3, 7, 2, 9]
    with torch.no_grad():
        alone, _ = model.gru(model.item_embeddings(torch.tensor([seq])))  # no padding at all, h0 = 0
        alone = model.dense(alone)[0]
        for pad in (0, 1, 4):
            out, length, _ = model.states(torch.tensor([[0] * pad + seq]))
            assert length.item() == 4 and torch.allclose(out[0, :4], alone, atol=1e-12)
            scores = model.score(torch.tensor([[0] * pad + seq]))
            assert torch.allclose(scores[0], alone[-1] @ model.item_embeddings.weight.T, atol=1e-12)
    # a different history changes the state: the GRU really carries it
    other, _, _ = model.states(torch.tensor([[5, 7, 2, 9]]))
    assert not torch.allclose(other[0, 3], alone[3])


def test_gru4rec_loss_is_ce_over_every_prefix() -> None:
    data = tiny_data(max_len=12)  # no truncation: each row holds all prefixes of s[:-2] (see the module doc)
    model = tiny_gru()
    from elcrec.data.batches import EpochBuilder
    batch = next(iter(EpochBuilder(data, 4, False, None).epoch(1, 0)))
    loss = model.loss(batch)["ce"]
    E = model.item_embeddings.weight.detach()
    total, count = 0.0, 0
    for u in batch.users.tolist():
        train = SEQS[u][:-2]
        for t in range(1, len(train)):  # prefix train[:t] -> train[t]
            with torch.no_grad():
                h, _ = model.gru(model.item_embeddings(torch.tensor([train[:t]])))
                logits = (model.dense(h)[0, -1] @ E.T).tolist()
            z = max(logits)
            total += -(logits[train[t]] - z - math.log(sum(math.exp(v - z) for v in logits)))
            count += 1
    assert loss.item() == pytest.approx(total / count, rel=1e-10)


# --- Caser -------------------------------------------------------------------------------------------
def tiny_caser(**kw) -> Caser:
    torch.manual_seed(0)
    cfg = {"hidden": 3, "L": 3, "T": 2, "nv": 2, "nh": 2, "dropout": 0.0, "neg_samples": 2,
           "num_users": len(SEQS), "max_len": 8, **kw}
    return Caser(ITEM_SIZE, CaserConfig(**cfg)).to(DT).eval()


def test_caser_windows_and_targets_as_interactions_py() -> None:
    train = tiny_data().training_part()
    users, inputs, targets = caser_windows(train, L=3, T=2)
    got = sorted(zip(users.tolist(), inputs.tolist(), targets.tolist()))
    expected = sorted(
        # user 0, s[:-2] = 1..9: windows of 5 from the end, input 3 then 2 targets
        [(0, [k, k + 1, k + 2], [k + 3, k + 4]) for k in range(1, 6)]
        # user 1, [3, 5]: shorter than L + T = 5, one left-padded window
        + [(1, [0, 0, 0], [3, 5])]
        # user 2, [11, 12, 1, ..., 8] (10 items): 6 windows
        + [(2, w[:3], w[3:]) for w in ([11, 12, 1, 2, 3, 4, 5, 6, 7, 8][i:i + 5] for i in range(6))]
        + [(3, [0, 0, 2], [4, 6])])
    assert got == expected


def test_caser_epoch_negatives_shuffle_and_user_ids() -> None:
    data = tiny_data()
    windows = CaserWindows(data, batch_size=4, cfg=CaserConfig(L=3, T=2, neg_samples=2, num_users=4))
    batches = list(windows.epoch(seed=1, epoch=0))
    assert windows.num_batches() == len(batches) == math.ceil(13 / 4)
    rows = [(u, tuple(i), tuple(t)) for b in batches
            for u, i, t in zip(b.user_ids.tolist(), b.input_ids.tolist(), b.target_pos.tolist())]
    users, inputs, targets = (a.tolist() for a in caser_windows(data.training_part(), 3, 2))
    assert sorted(rows) == sorted((u, tuple(i), tuple(t)) for u, i, t in zip(users, inputs, targets))
    for b in batches:
        assert b.target_neg.shape == (len(b), 4)  # neg_samples * T per window
        for u, negs in zip(b.user_ids.tolist(), b.target_neg.tolist()):
            assert all(1 <= j <= 12 and j not in SEQS[u][:-2] for j in negs)
    other = list(windows.epoch(seed=1, epoch=1))
    assert [b.user_ids.tolist() for b in other] != [b.user_ids.tolist() for b in batches]  # reshuffled


def reference_caser_vector(model: Caser, seq: list[int], user: int) -> list[float]:
    """x = [z; e_u] with the convolutions written as sums over the window entries."""
    cfg = model.cfg
    E = model.item_embeddings.weight.detach()
    emb = [[E[i, d].item() for d in range(cfg.hidden)] for i in seq]
    feats = []
    for f in range(cfg.nv):  # vertical: a weighted sum of the L rows, per dimension
        w, b = model.conv_v.weight.detach()[f, 0, :, 0], model.conv_v.bias.detach()[f].item()
        feats += [sum(w[l].item() * emb[l][d] for l in range(cfg.L)) + b for d in range(cfg.hidden)]
    for h, conv in enumerate(model.conv_h, start=1):  # horizontal: ReLU then max over the L - h + 1 positions
        for f in range(cfg.nh):
            w, b = conv.weight.detach()[f, 0], conv.bias.detach()[f].item()
            acts = [max(0.0, sum(w[r, d].item() * emb[t + r][d] for r in range(h) for d in range(cfg.hidden)) + b)
                    for t in range(cfg.L - h + 1)]
            feats.append(max(acts))
    W1, b1 = model.fc1.weight.detach(), model.fc1.bias.detach()
    z = [max(0.0, sum(W1[o, i].item() * feats[i] for i in range(len(feats))) + b1[o].item())
         for o in range(cfg.hidden)]
    return z + model.user_embeddings.weight.detach()[user].tolist()


def test_caser_loss_matches_reference() -> None:
    data = tiny_data()
    model = tiny_caser()
    batch = next(iter(CaserWindows(data, 5, model.cfg).epoch(seed=3, epoch=0)))
    loss = model.loss(batch)["bce"].item()
    W2, b2 = model.W2.weight.detach(), model.b2.weight.detach()[:, 0]
    pos_terms, neg_terms = [], []
    for seq, user, targets, negs in zip(batch.input_ids.tolist(), batch.user_ids.tolist(), batch.target_pos.tolist(),
                                        batch.target_neg.tolist()):
        x = reference_caser_vector(model, seq, user)
        score = lambda i: sum(x[d] * W2[i, d].item() for d in range(len(x))) + b2[i].item()  # noqa: E731
        pos_terms += [-math.log(sig(score(i))) for i in targets]
        neg_terms += [-math.log(1 - sig(score(j))) for j in negs]
    assert loss == pytest.approx(sum(pos_terms) / len(pos_terms) + sum(neg_terms) / len(neg_terms), rel=1e-10)
    # scoring reads the last L items of the evaluation input and the user
    ids = torch.tensor([[0, 0, 0, 4, 5, 6, 7, 8]])
    scores = model.score(ids, user_ids=torch.tensor([2]))[0]
    x = reference_caser_vector(model, [6, 7, 8], 2)
    ref = [sum(x[d] * W2[i, d].item() for d in range(len(x))) + b2[i].item() for i in range(ITEM_SIZE)]
    assert scores.tolist() == pytest.approx(ref, rel=1e-10)


# --- the contract: user ids through the evaluator, registry, Table 1 ---------------------------------
def test_evaluator_passes_user_ids_to_user_models() -> None:
    data = tiny_data()
    model = tiny_bpr()
    calls = []

    def score(inputs, user_ids=None):  # noqa: ANN001, ANN202
        calls.append(user_ids.tolist())
        return model.score(inputs, user_ids=user_ids)

    result = rank_targets(score, data.eval_split("test"), ITEM_SIZE, batch_size=3, user_ids=True)
    assert calls == [[0, 1, 2], [3]]
    direct = model.score(None, user_ids=torch.arange(4))
    split = data.eval_split("test")
    for u in range(4):  # the rank of each user's target among its own scores (history scored 0)
        row = direct[u].clone()
        row[split.history_items[split.history_ptr[u]:split.history_ptr[u + 1]]] = 0
        assert result.ranks[u] == int((row >= row[split.targets[u]]).sum()) - 1


def test_shared_epoch_builder_carries_user_ids_only_when_asked() -> None:
    from elcrec.data.batches import EpochBuilder

    data = tiny_data()
    with_ids = list(EpochBuilder(data, 3, False, None, user_ids=True).epoch(1, 0))
    assert all(torch.equal(b.user_ids, b.users) for b in with_ids)
    assert sorted(u for b in with_ids for u in b.user_ids.tolist()) == [0, 1, 2, 3]
    assert all(b.user_ids is None for b in EpochBuilder(data, 3, False, None).epoch(1, 0))
    assert with_ids[0].to("cpu").user_ids is not None


@pytest.mark.parametrize("name", ["bpr-mf", "gru4rec", "caser"])
def test_registry_builds_with_num_users_and_fills_table1(name: str) -> None:
    assert MODELS[name].status == "implemented"
    model, cfg = build_model(name, "Beauty", 30, num_users=7)
    assert getattr(cfg, "num_users", 7) == 7 and model.needs_user_ids == hasattr(cfg, "num_users")
    assert name in {c.harness for c in TABLE1_COLUMNS}
    with pytest.raises(Exception, match="no setting"):
        resolve_config(name, "Beauty", {"nosuch": 1})


@pytest.mark.parametrize("name", ["bpr-mf", "gru4rec", "caser"])
def test_trains_one_epoch_through_the_cli_on_a_real_subset(name: str, shared_dir: Path, tmp_path_factory,
                                                            capsys) -> None:
    from elcrec.cli import main
    from elcrec.data.fetch import prepare_dataset

    data_dir = tmp_path_factory.getbasetemp() / "classic-data"
    prepare_dataset("Beauty-sub100", data_dir, shared_dir / "data")
    out = tmp_path_factory.mktemp(name) / "run"
    assert main(["train", "--dataset", "Beauty-sub100", "--model", name, "--seed", "1", "--max-epochs", "1",
                 "--out", str(out), "--data-dir", str(data_dir), "--device", "cpu"]) == 0
    for f in ("metrics.json", "per_user_test.csv", "train_log.csv", "profile.json", "config.json", "model.pt"):
        assert (out / f).stat().st_size > 0, f
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs"] == 1
    capsys.readouterr()
    # the checkpoint evaluates (user ids included) to the recorded test metrics
    assert main(["evaluate", "--checkpoint", str(out / "model.pt"), "--dataset", "Beauty-sub100",
                 "--data-dir", str(data_dir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx({k: metrics["test"][k] for k in printed}, abs=1e-12)
