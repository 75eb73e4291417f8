"""The dataset registry: the one place that says where each dataset comes from and how to check it.

Facts (origin URLs, sha256, counts) follow ../shared/data/MANIFEST.md. Two kinds of dataset exist:

* ``published``: the sequence file itself is public (ICLRec/ELCRec/S3-Rec ship byte-identical copies); it is
  downloaded and verified by sha256.
* ``recipe``: the sequence file is built from a raw public archive (GroupLens ml-1m.zip, MIND-small zips) by a
  recipe in :mod:`elcrec.data.recipes`. Raw archives have no published checksum, so the built file is checked
  against the expected statistics instead (and zip CRCs catch truncation). A mirror may also hold the already
  built sequence file, which is then verified by its sha256 (``prebuilt``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from elcrec.errors import ConfigError

ICLREC_RAW = "https://raw.githubusercontent.com/salesforce/ICLRec/2890e6c3ff6a22c6699fc19cb863b66786c1cde4/data"
ATTRIBUTE_FILE = "item2attributes.json"  # S3-Rec's item -> attribute ids, kept in each dataset's folder
S3REC_RAW = "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/2a81540ae18615d88ef88227b0c066e5b74781e5/data"


@dataclass(frozen=True)
class RemoteFile:
    """A file with a public origin; ``sha256`` is None where no checksum is published."""

    name: str
    url: str
    sha256: str | None = None
    alt_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # "published", "recipe" or "derived" (built from another registered dataset)
    description: str
    sequences: RemoteFile | None = None  # published file, or a mirror-only prebuilt copy for recipe datasets
    raw: tuple[RemoteFile, ...] = ()  # recipe inputs
    recipe: str | None = None  # name of the builder in elcrec.data.recipes
    attributes: RemoteFile | None = None  # S3-Rec item2attributes.json
    expected: dict[str, int] = field(default_factory=dict)  # users/items/interactions of the sequence file
    parent: str | None = None  # derived datasets: the dataset they are built from
    params: dict[str, int] = field(default_factory=dict)  # derived datasets: the builder's parameters
    licence: str = ""
    # May legitimately be unavailable (not redistributable, so often absent from a mirror): the workflow then
    # reports its runs as "not run: dataset unavailable"; any other dataset that cannot be obtained is an error.
    optional: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.txt"


def _amazon(name: str, seq_sha: str, attr_sha: str, users: int, items: int, inter: int) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind="published",
        description=f"Amazon 2014 '{name}' 5-core reviews, S3-Rec recipe (as shipped by S3-Rec/ICLRec/ELCRec)",
        sequences=RemoteFile(f"{name}.txt", f"{ICLREC_RAW}/{name}.txt", seq_sha),
        attributes=RemoteFile(f"{name}_item2attributes.json", f"{S3REC_RAW}/{name}_item2attributes.json", attr_sha),
        expected={"users": users, "items": items, "interactions": inter},
        licence="Amazon review data (McAuley lab), research use; cite He & McAuley WWW'16, McAuley et al. SIGIR'15",
    )


def _subsample(parent: str, every: int, users: int, items: int, inter: int) -> DatasetSpec:
    return DatasetSpec(
        name=f"{parent}-sub{every}",
        kind="derived",
        description=f"every {every}th user of {parent}, items renumbered (quick preset and CI; not comparable with it)",
        parent=parent,
        recipe="subsample",
        params={"every": every},
        expected={"users": users, "items": items, "interactions": inter},
        licence=f"as {parent}",
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _amazon("Beauty", "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
                "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4", 22363, 12101, 198502),
        _amazon("Sports_and_Outdoors", "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
                "7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b", 35598, 18357, 296337),
        _amazon("Toys_and_Games", "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
                "d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0", 19412, 11924, 167597),
        DatasetSpec(
            name="Yelp",
            kind="published",
            description="Yelp 2019 reviews, S3-Rec recipe (as shipped by S3-Rec/ICLRec/ELCRec); keeps repeats",
            sequences=RemoteFile("Yelp.txt", f"{ICLREC_RAW}/Yelp.txt",
                                 "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed"),
            attributes=RemoteFile("Yelp_item2attributes.json", f"{S3REC_RAW}/Yelp_item2attributes.json",
                                  "f25acd5e1e680e0b22fd4e3f4fb6be4b2a7461e9222610616e3e1ee6702dd58d"),
            expected={"users": 30431, "items": 20033, "interactions": 316354},
            licence="Yelp Dataset Terms of Use (non-commercial, academic)",
        ),
        DatasetSpec(
            name="ml-1m",
            kind="recipe",
            description="MovieLens-1M ratings.dat, SASRec recipe (movies with < 5 ratings dropped), one line per user",
            sequences=RemoteFile("ml-1m.txt", "(mirror only: prebuilt by the same recipe)",
                                 "968d320c4936cf7cf37f67f8cf96105269abe88ecb4a753afcae46fa011447f7"),
            raw=(RemoteFile("ml-1m.zip", "https://files.grouplens.org/datasets/movielens/ml-1m.zip"),),
            recipe="ml1m",
            expected={"users": 6040, "items": 3416, "interactions": 999611},
            licence="GroupLens licence: research use, no redistribution",
        ),
        DatasetSpec(
            name="MIND-small",
            kind="recipe",
            description="MIND-small click histories + clicked impressions, de-duplicated, 5-core (harness recipe)",
            raw=(
                RemoteFile("MINDsmall_train.zip",
                           "https://huggingface.co/datasets/yjw1029/MIND/resolve/main/MINDsmall_train.zip",
                           alt_urls=("https://mind201910small.blob.core.windows.net/release/MINDsmall_train.zip",)),
                RemoteFile("MINDsmall_dev.zip",
                           "https://huggingface.co/datasets/yjw1029/MIND/resolve/main/MINDsmall_dev.zip",
                           alt_urls=("https://mind201910small.blob.core.windows.net/release/MINDsmall_dev.zip",)),
            ),
            recipe="mind",
            optional=True,
            licence="Microsoft Research License Terms (non-commercial research); accept them on msnews.github.io",
        ),
        _subsample("Beauty", 10, 2237, 7905, 19566),
        _subsample("ml-1m", 10, 604, 3289, 105682),
        _subsample("Beauty", 100, 224, 1625, 1917),  # the tiny preset: the whole workflow in CI
    )
}


def get_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name; an unknown name lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {known}") from None


def mirror_holds(name: str, mirror: str | None) -> bool:
    """True when the mirror folder holds every file needed to build ``name`` (a cheap check by file name).

    Used by the workflow, at parse time, to decide whether an optional dataset will be available offline.
    """
    import os

    spec = get_spec(name)
    if not mirror:
        return False
    has = lambda remote: remote is not None and os.path.isfile(os.path.join(mirror, remote.name))  # noqa: E731
    if spec.kind == "derived":
        return spec.parent is not None and mirror_holds(spec.parent, mirror)
    if has(spec.sequences):
        return True
    return bool(spec.raw) and all(has(r) for r in spec.raw)
