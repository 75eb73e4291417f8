"""Tests for the dataset recipes (ML-1M against the mirrored reference file, MIND-small on a hand-made fixture)."""
from __future__ import annotations

import gzip
import hashlib
import random
import zipfile
from pathlib import Path

import pytest

from elcrec.data.recipes import build_mind, build_ml1m
from elcrec.errors import DataError

ML1M_SHA256 = "968d320c4936cf7cf37f67f8cf96105269abe88ecb4a753afcae46fa011447f7"


def make_zip(path: Path, members: dict[str, str | bytes], level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


# --------------------------------------------------------------------------------------------------- ML-1M

# Movies 10, 20, 30 have exactly 5 ratings (kept); 40 has 4 and 99 has 2 (dropped). Every user keeps only 3
# items, which a user filter would remove. Ties: user 1 (20, 10 at ...760), user 2 (10, 30 at 978299000) and
# user 4 (20, 10 at 978100000) must keep their ratings.dat order.
TINY_RATINGS = """\
3::30::4::978300010
1::20::5::978300760
1::10::3::978300760
2::40::2::978298000
1::99::1::978300000
5::10::5::978000003
2::10::4::978299000
1::30::4::978301000
4::20::3::978100000
3::10::5::978300050
2::30::3::978299000
4::40::4::978100001
5::30::1::978000001
3::20::2::978300200
2::20::5::978299500
4::10::2::978100000
5::20::3::978000002
4::30::5::978099999
1::40::1::978299999
3::40::3::978300300
4::99::5::978000000
"""
# user 1: 20 10 30 | user 2: 10 30 20 | user 3: 30 10 20 | user 4: 30 20 10 | user 5: 30 20 10
# first appearance: 20 -> 1, 10 -> 2, 30 -> 3
TINY_EXPECTED = "1 1 2 3\n2 2 3 1\n3 3 2 1\n4 3 1 2\n5 3 1 2\n"


def test_ml1m_tiny_exact_output(tmp_path: Path) -> None:
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/README": "x", "ml-1m/ratings.dat": TINY_RATINGS})
    out = tmp_path / "out" / "ml-1m.txt"
    stats = build_ml1m(zpath, out)
    assert out.read_bytes() == TINY_EXPECTED.encode()
    assert stats == {"users": 5, "items": 3, "interactions": 15}


def test_ml1m_crlf_and_no_final_newline(tmp_path: Path) -> None:
    text = TINY_RATINGS.replace("\n", "\r\n").rstrip("\r\n")
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": text})
    build_ml1m(zpath, tmp_path / "ml-1m.txt")
    assert (tmp_path / "ml-1m.txt").read_bytes() == TINY_EXPECTED.encode()


@pytest.mark.parametrize("bad", ["1::10::5", "1::10::5::9::9", "1:10:5:9", "", "1::10::4.5::9", "1::x::5::9",
                                 " 1::10::5::9", "1::10::5::-9"])
def test_ml1m_malformed_line(tmp_path: Path, bad: str) -> None:
    lines = TINY_RATINGS.splitlines()
    lines.insert(6, bad)  # becomes line 7
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": "\n".join(lines) + "\n"})
    out = tmp_path / "ml-1m.txt"
    with pytest.raises(DataError) as info:
        build_ml1m(zpath, out)
    msg = str(info.value)
    assert "ratings.dat" in msg and "line 7" in msg and "download" in msg and str(zpath) in msg
    assert not out.exists()


def test_ml1m_missing_member(tmp_path: Path) -> None:
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/movies.dat": "1::Toy Story (1995)::Animation\n"})
    with pytest.raises(DataError, match="ratings.dat"):
        build_ml1m(zpath, tmp_path / "ml-1m.txt")


def test_ml1m_corrupt_or_missing_zip(tmp_path: Path) -> None:
    zpath = tmp_path / "ml-1m.zip"
    zpath.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="download"):
        build_ml1m(zpath, tmp_path / "ml-1m.txt")
    # a truncated archive: the central directory is missing
    good = make_zip(tmp_path / "good.zip", {"ml-1m/ratings.dat": TINY_RATINGS * 50})
    zpath.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="download"):
        build_ml1m(zpath, tmp_path / "ml-1m.txt")
    with pytest.raises(DataError, match="not found"):
        build_ml1m(tmp_path / "absent.zip", tmp_path / "ml-1m.txt")


def test_ml1m_user_ids_not_contiguous(tmp_path: Path) -> None:
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": TINY_RATINGS.replace("5::", "7::")})
    with pytest.raises(DataError, match="UserIDs"):
        build_ml1m(zpath, tmp_path / "ml-1m.txt")


def test_ml1m_matches_reference(tmp_path: Path, shared_dir: Path) -> None:
    """Rebuild ratings.dat from the full GroupLens-id sequences, shuffled, and expect the mirrored ml-1m.txt."""
    source = shared_dir / "data" / "ml-1m_full_grouplens_ids.txt.gz"
    assert source.is_file(), f"{source} is missing from the shared folder"
    rng = random.Random(20240501)
    with gzip.open(source, "rt", encoding="ascii") as fh:
        users = [line.split() for line in fh]
    rng.shuffle(users)
    chunks = []
    for user, *movies in users:
        lines = [f"{user}::{movie}::5::{956703932 + k}\n" for k, movie in enumerate(movies)]
        rng.shuffle(lines)
        chunks.append("".join(lines))
    zpath = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": "".join(chunks)}, level=1)
    out = tmp_path / "ml-1m.txt"
    stats = build_ml1m(zpath, out)
    assert stats == {"users": 6040, "items": 3416, "interactions": 999611}
    assert hashlib.sha256(out.read_bytes()).hexdigest() == ML1M_SHA256


# ---------------------------------------------------------------------------------------------- MIND-small

def behaviors(*rows: tuple[str, str, str, str]) -> str:
    """behaviors.tsv text: ImpressionID is the 1-based row number."""
    return "".join(f"{i}\t{u}\t{t}\t{h}\t{imp}\n" for i, (u, t, h, imp) in enumerate(rows, start=1))


MIND_TRAIN = behaviors(
    ("UC", "11/10/2019 9:00:00 AM", "N5 N4", "N3-1 N8-0 N2-1"),
    ("UA", "11/10/2019 8:00:00 AM", "N1 N99", "N8-0 N2-1"),
    ("UH", "11/10/2019 10:00:00 AM", "", "N8-0 N9-0"),              # no history, no click: never written
    ("UB", "11/12/2019 1:00:00 PM", "N5 N4 N3 N2 N1", "N1-1"),      # not UB's earliest: history unused
    ("UA", "11/10/2019 8:00:00 AM", "N1 N99", "N1-1 N3-1"),         # tie with row 2: after it; N1 repeats
    ("UF", "11/11/2019 9:05:58 AM", "N1 N2", "N3-1 N6-1"),          # 4 items: 5-core round 1
    ("UG", "11/11/2019 11:30:00 PM", "N6", "N1-1 N2-1 N3-1 N4-1 N8-0"),  # loses N6 in round 2, dropped in 3
    ("UA", "11/13/2019 7:15:00 AM", "N1 N99", "N6-1 N5-1 N4-1"),
    ("UC", "11/9/2019 12:01:00 AM", "N5 N4", "N1-1"),               # UC's earliest, though listed last
)
MIND_DEV = behaviors(
    ("UB", "11/12/2019 6:00:00 AM", "N2", "N4-1 N5-0 N6-1"),        # UB's earliest (AM before PM)
    ("UD", "11/15/2019 9:00:00 AM", "", "N3-1 N1-1 N8-0 N5-1 N2-1 N4-1"),
    ("UE", "11/15/2019 9:00:00 AM", "N4 N3 N2 N1", "N5-1"),
    ("UB", "11/12/2019 1:00:00 PM", "N2", "N3-1 N5-1"),             # tie with train row 4: train first
    ("UC", "11/15/2019 10:00:00 AM", "N5 N4", "N6-1"),
    ("UE", "11/15/2019 11:00:00 AM", "N4 N3 N2 N1", "N4-1 N99-1"),  # N4 repeats; N99 has 2 users
)
# Before the 5-core: UC N5 N4 N1 N3 N2 N6 | UA N1 N99 N2 N3 N6 N5 N4 | UB N2 N4 N6 N1 N3 N5 | UF N1 N2 N3 N6 |
# UG N6 N1 N2 N3 N4 | UD N3 N1 N5 N2 N4 | UE N4 N3 N2 N1 N5 N99.  The 5-core drops UF and N99, then N6, then UG.
# Users by first appearance: UC UA (UH) UB (UF UG) UD UE; news: N5 -> 1, N4 -> 2, N1 -> 3, N3 -> 4, N2 -> 5.
MIND_EXPECTED = "1 1 2 3 4 5\n2 3 5 4 1 2\n3 5 2 3 4 1\n4 4 3 1 5 2\n5 2 4 5 3 1\n"
NEWS = "N1\tnews\tnewsweather\ttitle\tabstract\turl\t[]\t[]\n"


def mind_zips(tmp_path: Path, train: str = MIND_TRAIN, dev: str = MIND_DEV) -> list[Path]:
    return [make_zip(tmp_path / "MINDsmall_train.zip", {"behaviors.tsv": train, "news.tsv": NEWS}),
            make_zip(tmp_path / "MINDsmall_dev.zip", {"behaviors.tsv": dev, "news.tsv": NEWS})]


def test_mind_exact_output(tmp_path: Path) -> None:
    out = tmp_path / "out" / "MIND.txt"
    stats = build_mind(mind_zips(tmp_path), out)
    assert out.read_bytes() == MIND_EXPECTED.encode()
    assert stats == {"users": 5, "items": 5, "interactions": 25}


def test_mind_crlf(tmp_path: Path) -> None:
    zips = mind_zips(tmp_path, MIND_TRAIN.replace("\n", "\r\n"), MIND_DEV.replace("\n", "\r\n"))
    build_mind(zips, tmp_path / "MIND.txt")
    assert (tmp_path / "MIND.txt").read_bytes() == MIND_EXPECTED.encode()


@pytest.mark.parametrize("which, row, line, needle", [
    ("train", "3\tUH\t11/10/2019 10:00:00 AM\tN8-0 N9-0", 3, "5 tab-separated fields"),
    ("train", "3\tUH\t11/10/2019 10:00:00 AM\t\tN8-0\tx", 3, "5 tab-separated fields"),
    ("dev", "2\tUD\t2019-11-15 09:00:00\t\tN1-1", 2, "Time"),
    ("dev", "2\tUD\t11/15/2019 9:00:00\t\tN1-1", 2, "Time"),
    ("dev", "2\tUD\t11/15/2019 9:00:00 AM\t\tN1-2", 2, "Impressions"),
    ("train", "3\tUH\t11/10/2019 10:00:00 AM\t\tN8-0 N9", 3, "Impressions"),
    ("train", "3\tUH\t11/10/2019 10:00:00 AM\t\tN8-0  N9-1", 3, "Impressions"),
    ("train", "3\tUH\t11/10/2019 10:00:00 AM\tN1,N2\tN8-0", 3, "History"),
])
def test_mind_malformed_line(tmp_path: Path, which: str, row: str, line: int, needle: str) -> None:
    text = {"train": MIND_TRAIN, "dev": MIND_DEV}[which]
    lines = text.splitlines(keepends=True)
    lines[line - 1] = row + "\n"
    zips = mind_zips(tmp_path, **{which: "".join(lines)})
    with pytest.raises(DataError) as info:
        build_mind(zips, tmp_path / "MIND.txt")
    msg = str(info.value)
    bad_zip = zips[0] if which == "train" else zips[1]
    assert f"{bad_zip}:behaviors.tsv" in msg and f"line {line}" in msg and needle in msg
    assert not (tmp_path / "MIND.txt").exists()


def test_mind_missing_behaviors(tmp_path: Path) -> None:
    zips = mind_zips(tmp_path)
    make_zip(zips[1], {"news.tsv": NEWS})
    with pytest.raises(DataError, match="behaviors.tsv") as info:
        build_mind(zips, tmp_path / "MIND.txt")
    assert "MINDsmall_dev.zip" in str(info.value)


def test_mind_corrupt_zip(tmp_path: Path) -> None:
    zips = mind_zips(tmp_path)
    zips[0].write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="download"):
        build_mind(zips, tmp_path / "MIND.txt")
