"""Published run records (elcrec/records.py, benchmarks/import_records.py): the committed blocks and the synthetic
fixture load, their provenance is complete, every run's metrics.json agrees with its per-user ranks; a broken block
is refused with one line; an archive is imported safely (no traversal, no links, no overwrite, atomic)."""
from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import import_records, pack_runs
from elcrec.errors import HarnessError
from elcrec.records import PROVENANCE_KEYS, PUBLISHED_ROOT, import_archive, load_block, published_blocks
from elcrec.runfolder import metrics_from_ranks
from tests.published_fixture import FIXTURE, write_block

REPO = Path(__file__).resolve().parents[1]


def _check_block(path: Path) -> None:
    block = load_block(path)  # provenance complete, plan = runs, metrics.json = its ranks (checked inside)
    assert all(block.provenance[k] for k in PROVENANCE_KEYS)
    ok = [r for r in block.runs if json.loads((r / "metrics.json").read_text())["status"] == "ok"]
    assert ok, f"{path}: no finished run"
    for run in ok:  # recomputed here as well, independently of the loader
        ranks = pd.read_csv(run / "per_user_test.csv.gz")["rank"].to_numpy()
        test = json.loads((run / "metrics.json").read_text())["test"]
        assert metrics_from_ranks(ranks) == pytest.approx(test, abs=1e-9), run
        assert not list(run.glob("*.pt"))


@pytest.mark.parametrize("block", [FIXTURE, *published_blocks(REPO / PUBLISHED_ROOT)], ids=lambda p: p.name)
def test_every_published_block_loads_and_agrees_with_its_ranks(block: Path) -> None:
    _check_block(block)


def test_the_fixture_says_it_is_synthetic_and_is_what_its_generator_writes(tmp_path: Path) -> None:
    block = load_block(FIXTURE)
    assert block.synthetic and "SYNTHETIC" in block.describe()
    fresh = write_block(tmp_path / "b")
    committed = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    for rel in committed:
        assert (FIXTURE / rel).read_bytes() == (fresh / rel).read_bytes(), rel


@pytest.fixture
def block(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "block"))


def test_incomplete_provenance_is_refused_in_one_line(block: Path) -> None:
    prov = json.loads((block / "provenance.json").read_text())
    prov["driver"] = ""
    del prov["git_commit"]
    (block / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(HarnessError) as err:
        load_block(block)
    assert "provenance incomplete" in str(err.value) and "git_commit" in str(err.value) and "driver" in str(err.value)
    assert "\n" not in str(err.value)


def test_metrics_that_disagree_with_the_ranks_are_refused_in_one_line(block: Path) -> None:
    path = block / "runs" / "Beauty" / "iclrec" / "seed2" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["test"]["HR@5"] += 0.001
    path.write_text(json.dumps(metrics))
    with pytest.raises(HarnessError) as err:
        load_block(block)
    assert str(err.value).startswith(str(path)) and "per-user ranks give" in str(err.value)
    assert "\n" not in str(err.value)
    load_block(block, check_ranks=False)  # the quick parse-time check does not recompute


def test_a_per_user_metric_column_that_disagrees_with_the_ranks_is_refused(block: Path) -> None:
    path = block / "runs" / "Beauty" / "elcrec" / "seed1" / "per_user_test.csv.gz"
    frame = pd.read_csv(path)
    frame.loc[frame["rank"] > 100, "HR@20"] = 1.0
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    with pytest.raises(HarnessError, match="column HR@20 disagrees"):
        load_block(block)


@pytest.mark.parametrize("damage", ["weights", "plan", "missing_file", "link"])
def test_a_block_that_is_not_the_published_layout_is_refused(block: Path, damage: str) -> None:
    run = block / "runs" / "Beauty" / "sasrec" / "seed3"
    if damage == "weights":
        (run / "model.pt").write_bytes(b"x")
    elif damage == "plan":
        plan = json.loads((block / "plan.json").read_text())
        plan["runs"] = [r for r in plan["runs"] if not (r["model"] == "sasrec" and r["seed"] == 3)]
        (block / "plan.json").write_text(json.dumps(plan))
    elif damage == "missing_file":
        (run / "train_log.csv").unlink()
    else:
        (run / "config.json").unlink()
        (run / "config.json").symlink_to(block / "plan.json")
    with pytest.raises(HarnessError):
        load_block(block)


# ---------------------------------------------------------------------------------------------------- import


def _archive(tmp_path: Path) -> Path:
    """An archive as benchmarks/pack_runs.py writes it, from the fixture's run folders."""
    root = tmp_path / "work"
    plan = json.loads((FIXTURE / "plan.json").read_text())["runs"]
    for r in plan:
        src = FIXTURE / "runs" / "Beauty" / r["model"] / f"seed{r['seed']}"
        dst = root / "runs" / "Beauty" / r["model"] / f"seed{r['seed']}"
        if r["status"] == "ok":
            shutil.copytree(src, dst)
            (dst / "per_user_test.csv").write_bytes(gzip.decompress((dst / "per_user_test.csv.gz").read_bytes()))
            (dst / "model.pt").write_bytes(b"weights")
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "elcrec_seed1.log").write_text("epoch 0\n")
    shutil.copy(FIXTURE / "provenance.json", tmp_path / "provenance.json")
    archive = tmp_path / "block.tar.gz"
    pack_runs.archive(argparse_ns(root=str(root), dataset="Beauty", slots=8, budget=0, archive=str(archive),
                                  provenance=str(tmp_path / "provenance.json")), plan)
    return archive


def argparse_ns(**kw):  # noqa: ANN201
    from argparse import Namespace

    return Namespace(**kw)


def test_import_round_trips_a_pack_runs_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive(tmp_path)
    dest = tmp_path / "published"
    assert import_records.main([str(archive), "--block", "b1", "--dest", str(dest)]) == 0
    assert "imported" in capsys.readouterr().out
    _check_block(dest / "b1")
    assert not list((dest / "b1").rglob("*.pt")) and not (dest / "b1" / "logs").exists()
    not_run = json.loads((dest / "b1" / "runs" / "Beauty" / "bert4rec" / "seed1" / "metrics.json").read_text())
    assert not_run["status"].startswith("not run: compute")
    # never over an existing block, and nothing left behind
    assert import_records.main([str(archive), "--block", "b1", "--dest", str(dest)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["b1"]


def _evil(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("published_runs_Beauty/provenance.json")
        data = (FIXTURE / "provenance.json").read_bytes()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        if kind == "traversal":
            info = tarfile.TarInfo("published_runs_Beauty/../../escape.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        elif kind == "link":
            info = tarfile.TarInfo("published_runs_Beauty/plan.json")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


@pytest.mark.parametrize("kind", ["traversal", "link", "incomplete"])
def test_import_refuses_unsafe_or_incomplete_archives_and_leaves_nothing(tmp_path: Path, kind: str,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "published"
    assert import_records.main([str(_evil(tmp_path, kind)), "--block", "b", "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert {"traversal": "outside the archive", "link": "a link", "incomplete": "plan.json"}[kind] in err
    assert not (tmp_path / "escape.txt").exists() and list(dest.iterdir()) == []


def test_import_refuses_incomplete_provenance(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]  # type: ignore[union-attr]
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for m, data in members:
            if m.name.endswith("/provenance.json"):
                prov = json.loads(data)  # type: ignore[arg-type]
                prov["git_commit"] = None
                data = json.dumps(prov).encode()
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    with pytest.raises(HarnessError, match="provenance incomplete.*git_commit"):
        import_archive(bad, tmp_path / "published", "b")
    assert list((tmp_path / "published").iterdir()) == []
