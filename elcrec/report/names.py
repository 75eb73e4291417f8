"""The paper's names for our datasets, metrics and models, shared by every report (tables, reproduction,
significance report, figures).

The paper's labels ("Sports", "CL4SRec (ICLRec code)", "B+ELCM") for harness names, the model columns of its
tables and the order of its datasets. No heavy imports: the figures and the workflow read it too.
"""
from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------------- datasets

TABLE1_DATASETS = ("Sports_and_Outdoors", "Beauty", "Toys_and_Games", "Yelp")
OTHER_DOMAIN_DATASETS = ("ml-1m", "MIND-small")  # Tables 8 and 9
DATASET_ORDER = TABLE1_DATASETS + OTHER_DOMAIN_DATASETS  # the paper's order
DATASET_LABELS = {"Sports_and_Outdoors": "Sports", "Beauty": "Beauty", "Toys_and_Games": "Toys", "Yelp": "Yelp",
                  "ml-1m": "ML-1M", "MIND-small": "MIND-small"}


def dataset_label(name: str) -> str:
    """The paper's short name of a dataset ("Sports" for Sports_and_Outdoors); unknown names unchanged."""
    return DATASET_LABELS.get(name, name)


# ---------------------------------------------------------------------------------------------------- metrics

PAPER_METRICS = ("HR@5", "HR@20", "NDCG@5", "NDCG@20")  # what the paper prints, in its order
ALL_METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20")  # what the CSVs carry
ABLATION_METRICS = ("HR@5", "HR@20", "NDCG@5", "NDCG@20")  # summed per seed in Table 10 / Figure 1

# ---------------------------------------------------------------------------------------------------- models

NOT_IMPLEMENTED = "not implemented"


@dataclass(frozen=True)
class Column:
    """One model column: the paper's name, the harness model that fills it (None: not implemented here)."""

    label: str
    harness: str | None
    in_paper: bool = True


# The paper's Table 1, in its column order. S3-Rec is filled by the attribute-using `s3rec` (the method as published);
# the attribute-free variant, which may be what the paper's low S3-Rec column actually ran (ELCREC_METHOD.md §4.1),
# is an extra column. CL4SRec is filled by `cl4srec` (SSLRec: CE over all items), the implementation the paper's
# Table 12 names; `cl4srec-iclrec` (ICLRec's InstanceCL) is an extra column, because the paper's baseline list is
# ICLRec's and reused results most likely come from that code family (docs/baselines_iclrec_sasrec_cl4srec.md).
# BPR-MF, GRU4Rec and Caser follow NGCF's BPRMF.py, RecBole's GRU4Rec and graytowne/caser_pytorch
# (docs/baselines_classic.md).
TABLE1_COLUMNS: tuple[Column, ...] = (
    Column("BPR-MF", "bpr-mf"), Column("GRU4Rec", "gru4rec"), Column("Caser", "caser"), Column("SASRec", "sasrec"),
    Column("BERT4Rec", "bert4rec"), Column("DSSRec", "dssrec"), Column("S3-Rec", "s3rec"), Column("CL4SRec", "cl4srec"),
    Column("DCRec", "dcrec"), Column("MAERec", "maerec"), Column("IOCRec", "iocrec"), Column("ICLRec", "iclrec"),
    Column("ELCRec", "elcrec"),
)
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("S3-Rec (no attributes)", "s3rec-noattr", False),
    Column("CL4SRec (ICLRec code)", "cl4srec-iclrec", False),
    Column("BERT4Rec (Adam, lr 1e-3)", "bert4rec-adam", False),
    Column("CoSeRec", "coserec", False),
)
# (label in the paper, run name) of the ablation (ELCREC_METHOD.md §4.2; definitions in docs/elcrec.md).
ABLATION_VARIANTS = (("B", "elcrec-b"), ("B+ICL", "elcrec-b-icl"), ("B+ELCM", "elcrec-b-elcm"), ("ELCRec", "elcrec"))
EFFICIENCY_MODELS = (("ICLRec", "iclrec"), ("ELCRec", "elcrec"), ("S3-Rec", "s3rec"))
MEMORY_KINDS = {"cpu_peak_rss": "CPU peak RSS", "cuda_max_memory_allocated": "GPU max allocated",
                "cuda_max_memory_reserved": "GPU max reserved"}

# harness model -> the paper's name, from the columns above (the backbone B spelled out)
PAPER_NAMES = {**{c.harness: c.label for c in TABLE1_COLUMNS + EXTRA_COLUMNS if c.harness},
               **dict((run, label) for label, run in ABLATION_VARIANTS), "elcrec-b": "B (backbone)"}
