"""Tests for the sequence-file parser and the leave-one-out split (method doc §3.2).

Every expectation is computed here, either by hand or by a naive per-user Python loop that follows the
protocol literally (train ``s[:-3]`` -> ``s[1:-2]``, valid ``s[:-2]`` -> ``s[-2]``, test ``s[:-1]`` -> ``s[-1]``,
inputs truncated to the last ``max_len`` items and left-padded with 0; histories not truncated).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from elcrec.data.sequences import EvalSplit, SequenceData, parse_sequence_file
from elcrec.errors import DataError

MAX_LEN = 4

# Lengths 3 (the minimum: empty train input), 4 (== max_len), 10 (every input truncated), 6 (train input fits,
# valid/test inputs truncated) and 5 with repeats (Yelp keeps repeats). The largest id, 12, occurs only as the
# test target of user 3, so item_size must see the test targets too.
SEQS = [
    [5, 3, 9],
    [1, 2, 3, 4],
    [7, 1, 8, 2, 6, 4, 3, 11, 5, 10],
    [2, 4, 6, 8, 10, 12],
    [3, 3, 3, 5, 3],
]
USER_IDS = [101, 7, 3, 55, 2]  # ignored by the parser: the row index is the user


def write_lines(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.fixture
def seq_file(tmp_path: Path) -> Path:
    lines = "".join(f"{uid} {' '.join(map(str, s))}\n" for uid, s in zip(USER_IDS, SEQS))
    return write_lines(tmp_path / "Tiny.txt", lines)


# ------------------------------------------------------------------------------------------- naive reference


def left_pad(items: list[int], max_len: int) -> list[int]:
    kept = items[-max_len:] if items else []
    return [0] * (max_len - len(kept)) + kept


def naive_split(seqs: list[list[int]], max_len: int) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in (
        "train_in", "train_tg", "valid_in", "valid_tg", "valid_hist", "test_in", "test_tg", "test_hist")}
    for s in seqs:
        out["train_in"].append(left_pad(s[:-3], max_len))
        out["train_tg"].append(left_pad(s[1:-2], max_len))
        out["valid_in"].append(left_pad(s[:-2], max_len))
        out["valid_tg"].append(s[-2])
        out["valid_hist"].append(list(s[:-2]))
        out["test_in"].append(left_pad(s[:-1], max_len))
        out["test_tg"].append(s[-1])
        out["test_hist"].append(list(s[:-1]))
    return out


def csr_rows(split: EvalSplit) -> list[list[int]]:
    ptr, items = split.history_ptr, split.history_items
    return [items[ptr[u] : ptr[u + 1]].tolist() for u in range(len(ptr) - 1)]


# ------------------------------------------------------------------------------------------------- parsing


def test_parse_returns_flat_items_and_offsets_ignoring_user_ids(seq_file: Path) -> None:
    items, offsets = parse_sequence_file(seq_file)
    assert items.dtype == np.int64 and offsets.dtype == np.int64
    assert items.tolist() == [5, 3, 9, 1, 2, 3, 4, 7, 1, 8, 2, 6, 4, 3, 11, 5, 10, 2, 4, 6, 8, 10, 12, 3, 3, 3, 5, 3]
    assert offsets.tolist() == [0, 3, 7, 17, 23, 28]


def test_from_file_counts(seq_file: Path) -> None:
    data = SequenceData.from_file(seq_file, max_len=MAX_LEN)
    assert data.name == "Tiny"
    assert data.num_users == 5
    assert data.lengths.tolist() == [3, 4, 10, 6, 5]
    assert data.num_items == 12
    assert data.item_size == 14  # pad 0, items 1..12, mask id 13


# --------------------------------------------------------------------------------------------------- split


def test_split_hand_checked_rows(seq_file: Path) -> None:
    """A few rows written out by hand, so the naive reference below is itself checked."""
    data = SequenceData.from_file(seq_file, max_len=MAX_LEN)
    # user 0 = [5, 3, 9]: train input empty, valid [5] -> 3, test [5, 3] -> 9
    assert data.train_inputs[0].tolist() == [0, 0, 0, 0]
    assert data.train_targets[0].tolist() == [0, 0, 0, 0]
    # user 2 = [7, 1, 8, 2, 6, 4, 3, 11, 5, 10]
    assert data.train_inputs[2].tolist() == [2, 6, 4, 3]  # last 4 of [7 1 8 2 6 4 3]
    assert data.train_targets[2].tolist() == [6, 4, 3, 11]  # last 4 of [1 8 2 6 4 3 11]
    valid, test = data.eval_split("valid"), data.eval_split("test")
    assert valid.inputs[0].tolist() == [0, 0, 0, 5] and int(valid.targets[0]) == 3
    assert test.inputs[0].tolist() == [0, 0, 5, 3] and int(test.targets[0]) == 9
    assert valid.inputs[2].tolist() == [6, 4, 3, 11] and int(valid.targets[2]) == 5
    assert test.inputs[2].tolist() == [4, 3, 11, 5] and int(test.targets[2]) == 10
    # user 1 = [1, 2, 3, 4]: train input [1] -> target [2]
    assert data.train_inputs[1].tolist() == [0, 0, 0, 1]
    assert data.train_targets[1].tolist() == [0, 0, 0, 2]


@pytest.mark.parametrize("max_len", [1, 2, MAX_LEN, 12])
def test_split_matches_naive_reference(seq_file: Path, max_len: int) -> None:
    data = SequenceData.from_file(seq_file, max_len=max_len)
    ref = naive_split(SEQS, max_len)
    assert data.train_inputs.dtype == torch.int64
    assert tuple(data.train_inputs.shape) == (5, max_len)
    assert data.train_inputs.tolist() == ref["train_in"]
    assert data.train_targets.tolist() == ref["train_tg"]
    for which in ("valid", "test"):
        split = data.eval_split(which)
        assert split.num_users == 5
        assert tuple(split.inputs.shape) == (5, max_len)
        assert split.inputs.tolist() == ref[f"{which}_in"]
        assert split.targets.tolist() == ref[f"{which}_tg"]


def test_history_csr_is_full_prefix_not_truncated(seq_file: Path) -> None:
    data = SequenceData.from_file(seq_file, max_len=MAX_LEN)
    valid, test = data.eval_split("valid"), data.eval_split("test")
    # valid history = all of s[:-2]; test history = all of s[:-1] (includes the valid target)
    assert valid.history_ptr.tolist() == [0, 1, 3, 11, 15, 18]
    assert csr_rows(valid) == [[5], [1, 2], [7, 1, 8, 2, 6, 4, 3, 11], [2, 4, 6, 8], [3, 3, 3]]
    assert test.history_ptr.tolist() == [0, 2, 5, 14, 19, 23]
    assert csr_rows(test) == [[5, 3], [1, 2, 3], [7, 1, 8, 2, 6, 4, 3, 11, 5], [2, 4, 6, 8, 10], [3, 3, 3, 5]]
    ref = naive_split(SEQS, MAX_LEN)
    assert csr_rows(valid) == ref["valid_hist"]
    assert csr_rows(test) == ref["test_hist"]


def test_from_lists_equals_from_file(seq_file: Path) -> None:
    a = SequenceData.from_file(seq_file, max_len=MAX_LEN)
    b = SequenceData.from_lists(SEQS, max_len=MAX_LEN)
    assert b.item_size == 14
    assert torch.equal(a.train_inputs, b.train_inputs) and torch.equal(a.train_targets, b.train_targets)
    for which in ("valid", "test"):
        sa, sb = a.eval_split(which), b.eval_split(which)
        assert torch.equal(sa.inputs, sb.inputs) and torch.equal(sa.targets, sb.targets)
        assert sa.history_ptr.tolist() == sb.history_ptr.tolist()
        assert sa.history_items.tolist() == sb.history_items.tolist()


def test_random_sequences_match_naive_reference() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 30, size=int(rng.integers(3, 15))).tolist() for _ in range(40)]
    data = SequenceData.from_lists(seqs, max_len=6)
    ref = naive_split(seqs, 6)
    assert data.item_size == max(max(s) for s in seqs) + 2
    assert data.train_inputs.tolist() == ref["train_in"]
    assert data.train_targets.tolist() == ref["train_tg"]
    for which in ("valid", "test"):
        split = data.eval_split(which)
        assert split.inputs.tolist() == ref[f"{which}_in"]
        assert split.targets.tolist() == ref[f"{which}_tg"]
        assert csr_rows(split) == ref[f"{which}_hist"]


# ---------------------------------------------------------------------------------------------- bad input


def test_malformed_token_names_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.txt", "1 1 2 3\n2 4 x7 5\n3 1 2 3\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:2:" in str(err.value)
    assert "'x7'" in str(err.value)


def test_too_few_items_names_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "short.txt", "1 1 2 3\n2 4 5 6\n3 4 5\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:3:" in str(err.value)
    assert "at least 3 items" in str(err.value) and "found 2" in str(err.value)


def test_blank_line_is_too_few_items(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "blank.txt", "1 1 2 3\n\n3 4 5 6\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:2:" in str(err.value) and "found 0" in str(err.value)


@pytest.mark.parametrize("bad_id", ["0", "-4"])
def test_item_id_below_one_names_line(tmp_path: Path, bad_id: str) -> None:
    path = write_lines(tmp_path / "zero.txt", f"1 1 2 3\n2 4 5 6\n3 1 {bad_id} 2 3\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:3:" in str(err.value)
    assert ">= 1" in str(err.value)


def test_missing_final_newline_is_truncated(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "trunc.txt", "1 1 2 3\n2 4 5 6\n3 1 2 3")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:3:" in str(err.value)
    assert "truncated" in str(err.value)


def test_empty_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "empty.txt", b"")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert str(path) in str(err.value) and "empty" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "Nope.txt"
    with pytest.raises(DataError) as err:
        SequenceData.from_file(path)
    assert str(path) in str(err.value)
    assert "download" in str(err.value)


def test_double_minus_token_is_a_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "dash.txt", "1 1 2 3\n2 4 --5 6\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:2:" in str(err.value)


def test_id_too_large_for_int64_is_a_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "huge.txt", "1 1 2 3\n2 4 99999999999999999999 6\n")
    with pytest.raises(DataError) as err:
        parse_sequence_file(path)
    assert f"{path}:2:" in str(err.value)
