"""DSSRec and IOCRec (baselines/dssrec.py, baselines/iocrec.py): each loss on a fixed tiny batch against an
independent computation written from the original code's formulas (abinashsinha330/DSSRec @eb0ca62 models.py /
modules.py; LFM-bot/IOCRec @a1b91db iocrec.py / loss.py), the pre-training examples on hand-made sequences, and
one epoch of each model through the CLI on the Beauty-sub10 subsample.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.dssrec import DSSRec, DSSRecConfig, DSSSampler, IntentEncoder, pretrain_windows, seq2item_loss, seq2seq_loss
from baselines.iocrec import IOCRec, IOCRecConfig, right_align
from elcrec.cli import main
from elcrec.data.batches import EpochBuilder
from elcrec.data.fetch import prepare_dataset
from elcrec.data.sequences import SequenceData
from elcrec.runs import FINAL_FILES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAX_LEN = 8


def tiny_data() -> SequenceData:
    rng = np.random.default_rng(3)
    seqs = [rng.choice(np.arange(1, 31), size=int(n), replace=False).tolist() for n in rng.integers(4, 16, 12)]
    return SequenceData.from_lists(seqs, name="tiny", max_len=MAX_LEN)


# ------------------------------------------------------------------------------------------------ DSSRec


def ref_dss_encoder(enc: IntentEncoder, z: torch.Tensor, is_input: bool) -> torch.Tensor:
    """``DSSEncoder.forward`` as written in modules.py: explicit exp / sum, one prototype at a time."""
    d = z.shape[2]
    zn = enc.layernorm1(z)
    nums = [torch.exp(zn @ enc.layernorm2(p) / np.sqrt(d)) for p in enc.prototypes]
    den = sum(nums)
    p_k_i = torch.stack([n / den for n in nums], -1)
    keys_tilde = enc.layernorm3(z + enc.alphas)
    keys = keys_tilde + torch.relu(enc.w(keys_tilde))
    query = enc.layernorm4(enc.b_prime + enc.alphas[-1, :] + z[:, -1, :]).unsqueeze(-1)
    num = torch.exp(keys @ query / np.sqrt(d))
    p_i = (num / num.sum(1).unsqueeze(-1)).squeeze(-1)
    att = (p_k_i * p_i.unsqueeze(-1)).transpose(1, 2)
    beta = enc.beta_input_seq if is_input else enc.beta_label_seq
    return enc.layernorm5(beta + att @ z)


def ref_seq2item(e: torch.Tensor, n: torch.Tensor) -> float:
    e, n = e.detach(), n.detach()
    b, k, d = e.shape
    total = 0.0
    for i in range(b):
        num = max(math.exp(float(e[i, j] @ n[i]) / math.sqrt(d)) for j in range(k))
        den = sum(math.exp(float(e[i, j] @ n[c]) / math.sqrt(d)) for j in range(k) for c in range(b))
        total += -math.log2(num / den)
    return total


def ref_seq2seq(e: torch.Tensor, f: torch.Tensor, lambda_: float) -> float:
    e, f = e.detach(), f.detach()
    b, k, d = e.shape
    terms = []
    for i in range(b):
        for j in range(k):
            num = math.exp(float(e[i, j] @ f[i, j]) / math.sqrt(d))
            den = sum(math.exp(float(e[i, j] @ f[c, m]) / math.sqrt(d)) for c in range(b) for m in range(k))
            terms.append(-math.log2(num / den))
    thresh = sorted(terms)[int(np.floor(lambda_ * b * k)) - 1]  # torch.kthvalue is 1-based
    return sum(t for t in terms if t <= thresh)


def test_dssrec_losses_equal_the_original_formulas_on_a_fixed_batch() -> None:
    g = torch.Generator().manual_seed(0)
    e, f, n = (torch.randn(*shape, generator=g, dtype=torch.float64) for shape in ((5, 3, 4), (5, 3, 4), (5, 4)))
    assert seq2item_loss(e, n).item() == pytest.approx(ref_seq2item(e, n), rel=1e-12)
    for lam in (0.5, 0.2, 1.0):
        assert seq2seq_loss(e, f, lam).item() == pytest.approx(ref_seq2seq(e, f, lam), rel=1e-12)
    # confidence-based selection: with lambda 0.5 strictly fewer terms than all of them contribute
    assert seq2seq_loss(e, f, 0.5) < seq2seq_loss(e, f, 1.0)


def test_dssrec_pretraining_losses_of_the_model_equal_an_independent_computation() -> None:
    data = tiny_data()
    torch.manual_seed(0)
    model = DSSRec(data.item_size, DSSRecConfig(max_len=MAX_LEN, hidden=8, layers=1, k=3)).double().eval()
    batch = DSSSampler(data, MAX_LEN, 0.5).batch(np.arange(10), np.random.default_rng(0))
    got = model.pretrain_losses(batch)
    enc = model.encoder
    e = ref_dss_encoder(model.intent_encoder, enc(batch.inputs), True)  # two encoder calls, as the original
    f = ref_dss_encoder(model.intent_encoder, enc(batch.labels), False)
    assert got["seq2item"].item() == pytest.approx(ref_seq2item(e, enc.item_embeddings(batch.next_items)), rel=1e-9)
    assert got["seq2seq"].item() == pytest.approx(ref_seq2seq(e, f, 0.5), rel=1e-9)


def test_dssrec_intents_finetuning_is_bce_of_the_max_over_intents() -> None:
    data = tiny_data()
    torch.manual_seed(0)
    model = DSSRec(data.item_size, DSSRecConfig(max_len=MAX_LEN, hidden=8, layers=1, finetune="intents")).double().eval()
    batch = next(EpochBuilder(data, 6, negatives=True, augment=None).epoch(1, 0))
    table = model.encoder.item_embeddings.weight
    s = ref_dss_encoder(model.intent_encoder, model.encoder(batch.input_ids), True)  # (B, K, D)
    pos = torch.matmul(table[batch.target_pos], s.transpose(1, 2)).max(-1)[0].reshape(-1)  # dss_cross_entropy
    neg = torch.matmul(table[batch.target_neg], s.transpose(1, 2)).max(-1)[0].reshape(-1)
    ist = (batch.target_pos > 0).reshape(-1).double()
    expected = torch.sum(-torch.log(torch.sigmoid(pos) + 1e-24) * ist - torch.log(1 - torch.sigmoid(neg) + 1e-24) * ist)
    assert model.loss(batch)["rec"].item() == pytest.approx((expected / ist.sum()).item(), rel=1e-12)
    scores = model.score(batch.input_ids)
    assert torch.allclose(scores, torch.max(s @ table.T, dim=1)[0], atol=1e-12)  # dss_predict_full


def test_dssrec_feed_forward_is_the_originals_relu_convolutions() -> None:
    """modules.py ``PointWiseFeedForward``: Conv1d(D, D, 1), ReLU, Conv1d(D, D, 1), ReLU, dropout, LN(+ input)."""
    torch.manual_seed(0)
    model = DSSRec(30, DSSRecConfig(max_len=MAX_LEN, hidden=8, layers=2)).eval()
    ffn = model.encoder.item_encoder.layer[1].intermediate
    conv1, conv2 = torch.nn.Conv1d(8, 8, kernel_size=1), torch.nn.Conv1d(8, 8, kernel_size=1)
    with torch.no_grad():
        for conv, lin in ((conv1, ffn.conv1d_1), (conv2, ffn.conv1d_2)):
            conv.weight.copy_(lin.weight[:, :, None])
            conv.bias.copy_(lin.bias)
    x = torch.randn(3, MAX_LEN, 8)
    h = torch.relu(conv1(x.transpose(1, 2)).transpose(1, 2))
    h = torch.relu(conv2(h.transpose(1, 2)).transpose(1, 2))
    assert torch.allclose(ffn(x), ffn.LayerNorm(h + x), atol=1e-6)
    bound = 1 / math.sqrt(8)  # PyTorch's default init, kept by the original (not N(0, 0.02))
    assert ffn.conv1d_1.weight.abs().max() <= bound and ffn.conv1d_1.bias.abs().max() > 0.05


def test_dssrec_pretraining_windows_and_split_points() -> None:
    short, long_ = list(range(1, 6)), list(range(11, 21))  # n = 5 <= max_len 6; n = 10 > 6
    data = SequenceData.from_lists([short, long_], name="hand", max_len=6)
    starts, lengths = pretrain_windows(data, 6, 0.5)  # step int(0.5 * 6) = 3: i in range(4, 0, -3) = 4, 1; and 0
    windows = [data.items[s : s + m].tolist() for s, m in zip(starts, lengths)]
    assert windows == [[1, 2, 3], long_[0:4], long_[0:5], long_[2:8]]  # s[:-2]; i = 0, 1 clamped; s[i-2:i+4]
    sampler = DSSSampler(data, 6, 0.5)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        batch = sampler.batch(np.arange(len(sampler)), rng)
        for row, w in enumerate(windows):
            inp = [x for x in batch.inputs[row].tolist() if x]
            label = [x for x in batch.labels[row].tolist() if x]
            t = len(inp)
            assert 1 <= t <= len(w) - 2 and inp == w[:t]  # t ~ U{1..m-2}
            assert label == w[t:][::-1] and batch.labels[row, -1] == w[t] == batch.next_items[row]
            seen.add((row, t))
    assert {t for r, t in seen if r == 2} == {1, 2, 3}  # every split point of the 5-item window is drawn
    one = SequenceData.from_lists([[7, 8, 9]], name="one", max_len=6)  # a window of one item: all three are it
    b = DSSSampler(one, 6, 0.5).batch(np.array([0]), rng)
    assert b.inputs[0, -1] == b.labels[0, -1] == b.next_items[0] == 7 and (b.inputs[0, :-1] == 0).all()


# ------------------------------------------------------------------------------------------------ IOCRec


def ref_disentangle(dis, item_emb: torch.Tensor, seq_len: torch.Tensor) -> torch.Tensor:
    """``DisentangleEncoder.intention_disentangling`` as written in iocrec.py, on right-padded (B, L, D)."""
    b, l, d = item_emb.shape
    score = F.softmax(dis.layer_norm_1(item_emb) @ dis.layer_norm_2(dis.intentions).unsqueeze(0).permute(0, 2, 1)
                      / math.sqrt(d), -1)
    row = item_emb[torch.arange(b), seq_len - 1]
    row += dis.pos_fai(seq_len - 1) + dis.rou
    query = dis.layer_norm_3(row).unsqueeze(1)
    key_hat = dis.layer_norm_4(item_emb + dis.pos_fai(torch.arange(l)).unsqueeze(0))
    key = key_hat + torch.relu(dis.W(key_hat))
    attn = F.softmax((query @ key.permute(0, 2, 1)).squeeze(1) / math.sqrt(d), -1)
    fuse = (score * attn.unsqueeze(-1)).permute(0, 2, 1).unsqueeze(-1)
    return dis.layer_norm_5(fuse * item_emb.unsqueeze(1))


def ref_intents(model: IOCRec, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, L, D) local + global intents of item lists, right-padded by hand; and the lengths."""
    x = torch.tensor([s[-MAX_LEN:] + [0] * (MAX_LEN - len(s[-MAX_LEN:])) for s in seqs])
    n = torch.tensor([max(min(len(s), MAX_LEN), 1) for s in seqs])
    emb = model.encoder.item_embeddings(x)
    g = model.global_encoder
    global_ = F.softmax(g.Q_s @ g.K_linear(emb).permute(0, 2, 1), -1) @ g.V_linear(emb)
    local = model.encoder(x)  # the shared encoder (its own tests check it against the original)
    return ref_disentangle(model.disentangle, local, n) + ref_disentangle(model.disentangle, global_, n), n


def ref_info_nce(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    """loss.py ``InfoNCELoss`` with dot similarity and temperature 1."""
    sim11, sim22, sim12 = v1 @ v1.t(), v2 @ v2.t(), v1 @ v2.t()
    sim11[..., range(sim11.size(0)), range(sim11.size(0))] = float("-inf")
    sim22[..., range(sim22.size(0)), range(sim22.size(0))] = float("-inf")
    logits = torch.cat([torch.cat([sim12, sim11], -1), torch.cat([sim22, sim12.t()], -1)], 0)
    return F.cross_entropy(logits, torch.arange(logits.size(0)))


def items(row: torch.Tensor) -> list[int]:
    return [x for x in row.tolist() if x]


def test_iocrec_loss_equals_an_independent_computation_on_a_fixed_batch() -> None:
    data = tiny_data()
    torch.manual_seed(0)
    model = IOCRec(data.item_size, IOCRecConfig(max_len=MAX_LEN, hidden=8, ffn_hidden=12, layers=2, k=3)).double()
    model.eval()  # no dropout: the two computations see the same function
    batch = next(EpochBuilder(data, 6, negatives=False, augment=model.augment).epoch(1, 0))
    got = model.loss(batch)
    intents, n = ref_intents(model, [items(r) for r in batch.input_ids])
    last = intents.gather(2, n.view(-1, 1, 1, 1).repeat(1, 3, 1, 8) - 1).squeeze(2)  # forward(): [B, K, D]
    logits = (last @ model.encoder.item_embeddings.weight.unsqueeze(0).permute(0, 2, 1)).max(1)[0]
    assert got["rec"].item() == pytest.approx(F.cross_entropy(logits, batch.target_pos[:, -1]).item(), rel=1e-10)
    b = len(batch)
    v1 = ref_intents(model, [items(r) for r in batch.views[0]])[0].reshape(b * 3, -1)
    v2 = ref_intents(model, [items(r) for r in batch.views[1]])[0].reshape(b * 3, -1)
    assert got["cl"].item() == pytest.approx(ref_info_nce(v1, v2).item(), rel=1e-10)
    assert torch.allclose(model.score(batch.input_ids), logits, atol=1e-10)
    assert model.encoder.item_encoder.layer[0].intermediate.dense_1.out_features == 12  # the configured FFN width


def test_iocrec_views_use_its_rates_and_a_dedicated_mask_token() -> None:
    model = IOCRec(40, IOCRecConfig())
    aug = model.augment
    assert (aug.tau, aug.gamma, aug.beta, aug.mask_value, aug.distinct_pair) == (0.4, 0.3, 0.2, 39, False)
    assert model.loss_weights == {"rec": 1.0, "cl": 0.1} and not model.needs_negatives


def test_right_align_moves_items_to_the_front() -> None:
    ids = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [0, 0, 0, 0, 9]])
    x, n = right_align(ids)
    assert x.tolist() == [[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [9, 0, 0, 0, 0]]
    assert n.tolist() == [3, 5, 1, 1]  # an empty row reads position 0 instead of failing


# ------------------------------------------------------------------------------ one epoch through the CLI


@pytest.fixture(scope="module")
def sub10(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    assert prepare_dataset("Beauty-sub10", data_dir, shared_dir / "data") is not None
    return data_dir


@pytest.mark.parametrize("name, sets", [("dssrec", ["pretrain_epochs=1", "layers=1"]), ("iocrec", ["layers=1"])])
def test_each_model_trains_one_epoch_through_the_cli(name: str, sets: list[str], sub10: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / name
    args = ["train", "--dataset", "Beauty-sub10", "--model", name, "--seed", "1", "--max-epochs", "1", "--out",
            str(out), "--data-dir", str(sub10), "--device", "cpu"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    for file in FINAL_FILES:
        assert (out / file).is_file(), file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs"] == 1 and all(0 <= v <= 1 for v in metrics["test"].values())
    config = json.loads((out / "config.json").read_text())
    if name == "dssrec":
        assert (out / "pretrain_log.csv").read_text().splitlines()[0].startswith("pretrain_seq2item,pretrain_seq2seq")
        assert config["train"]["patience"] == 10 and config["model_config"]["heads"] == 1
    else:
        assert config["train"]["early_stopping_metric"] == "HR@10" and config["model_config"]["ffn_hidden"] == 128


def test_a_nan_pretraining_loss_ends_the_run_as_diverged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from elcrec.train import TrainConfig, Trainer

    data = tiny_data()
    real = DSSRec.pretrain_losses
    monkeypatch.setattr(DSSRec, "pretrain_losses",
                        lambda self, batch: {k: v * float("nan") for k, v in real(self, batch).items()})
    model = DSSRec(data.item_size, DSSRecConfig(max_len=MAX_LEN, hidden=8, layers=1, pretrain_epochs=2,
                                                pretrain_batch_size=4))
    meta = {"model": "dssrec", "dataset": "tiny", "seed": 1}
    metrics = Trainer(model, data, TrainConfig(batch_size=4, max_epochs=2), tmp_path / "run", torch.device("cpu"), 1,
                      meta).fit()
    assert metrics["status"] == "diverged" and metrics["epochs"] == 0 and metrics["test"] is None
    assert "DSSRec pre-training diverged at epoch 0" in metrics["error"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics


def test_a_diverged_run_through_the_cli_exits_0_and_says_so(sub10: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    real = IOCRec.loss
    monkeypatch.setattr(IOCRec, "loss", lambda self, batch: {k: v * float("inf") for k, v in real(self, batch).items()})
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "Beauty-sub10", "--model", "iocrec", "--seed", "1", "--out", str(out),
               "--data-dir", str(sub10), "--device", "cpu", "--set", "layers=1"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and printed["status"] == "diverged" and "HR@5" not in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and "epoch 0, step 0" in metrics["error"] and metrics["epochs"] == 0
