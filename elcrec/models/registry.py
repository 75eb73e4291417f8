"""Model registry: name -> implementation, origin and status; per-dataset settings from config/models/*.yaml.

Adding a baseline: one module in ``baselines/`` with its network, loss and config dataclass, one entry here,
and (if it has per-dataset settings) one YAML file in ``config/models/``. Names that are declared but not yet
implemented stay in the list with status ``not implemented`` so that tables and ``python -m elcrec models`` say
so loudly instead of silently leaving a model out.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from elcrec.data.registry import ATTRIBUTE_FILE
from elcrec.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str
    description: str
    impl: str | None = None  # "module:ModelClass:ConfigClass"
    settings: str | None = None  # config/models/<settings>.yaml
    overrides: dict[str, Any] = field(default_factory=dict)  # fixed settings of a variant
    needs_files: tuple[str, ...] = ()  # files the dataset folder must hold (S3-Rec: item2attributes.json)
    # Files a finished run writes besides elcrec.runs.FINAL_FILES (declared as outputs by the workflow; a trailing
    # "/" is a folder): ELCRec's t-SNE snapshots, S3-Rec's pre-training log.
    extra_outputs: tuple[str, ...] = ()

    def load(self) -> tuple[type, type] | None:
        """(model class, config dataclass), or None while the module does not exist yet."""
        if self.impl is None:
            return None
        module_name, model_name, cfg_name = self.impl.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, model_name), getattr(module, cfg_name)

    @property
    def status(self) -> str:
        return "implemented" if self.load() is not None else "not implemented"


ELCREC = "elcrec.models.elcrec:ELCRec:ELCRecConfig"
ELCREC_SRC = "yueliu1999/ELCRec @ad6e1c8"
SNAPSHOTS = ("snapshots/",)  # ELCRec with intent centres: embeddings, intents and centres for the t-SNE figure
PRETRAIN_LOG = ("pretrain_log.csv",)  # S3-Rec, DSSRec: one row per pre-training epoch
_ENTRIES = [
    ModelEntry("elcrec", ELCREC_SRC, "ELCRec: BCE + seq-CL with intent fusion + intent-CL + ELCM cluster loss",
               ELCREC, "elcrec", extra_outputs=SNAPSHOTS),
    ModelEntry("elcrec-b", ELCREC_SRC, "ablation B: SASRec BCE + seq-CL without fusion (no centres)",
               ELCREC, "elcrec", {"use_icl": False, "use_elcm": False}),
    ModelEntry("elcrec-b-icl", ELCREC_SRC, "ablation B+ICL: B + intent fusion + intent-CL, no cluster loss",
               ELCREC, "elcrec", {"use_elcm": False}, extra_outputs=SNAPSHOTS),
    ModelEntry("elcrec-b-elcm", ELCREC_SRC, "ablation B+ELCM: B + the ELCM cluster loss, no fusion/intent-CL",
               ELCREC, "elcrec", {"use_icl": False}, extra_outputs=SNAPSHOTS),
    ModelEntry("iclrec", "salesforce/ICLRec @2890e6c", "ICLRec: per-epoch k-means intents, seq-CL + intent-CL",
               "baselines.iclrec:ICLRec:ICLRecConfig", "iclrec"),
    ModelEntry("sasrec", "kang205/SASRec (S3-Rec/ICLRec PyTorch backbone)", "SASRec: causal Transformer, BCE",
               "baselines.sasrec:SASRec:SASRecConfig", "sasrec"),
    ModelEntry("cl4srec", "HKUDS/SSLRec cl4srec", "CL4SRec: CE over all items + InfoNCE of two augmentations",
               "baselines.cl4srec:CL4SRec:CL4SRecConfig", "cl4srec"),
    ModelEntry("cl4srec-iclrec", "salesforce/ICLRec @2890e6c (InstanceCL)",
               "CL4SRec as in the ICLRec codebase: BCE + NCE of crop/mask/reorder views",
               "baselines.cl4srec:CL4SRec:CL4SRecConfig", "cl4srec", {"variant": "iclrec"}),
    ModelEntry("s3rec", "RUCAIBox/CIKM2020-S3Rec @2a81540", "S3-Rec: AAP/MIP/MAP/SP pre-training + fine-tuning",
               "baselines.s3rec:S3Rec:S3RecConfig", "s3rec", needs_files=(ATTRIBUTE_FILE,),
               extra_outputs=PRETRAIN_LOG),
    ModelEntry("s3rec-noattr", "RUCAIBox/CIKM2020-S3Rec @2a81540", "S3-Rec without item attributes (MIP + SP only)",
               "baselines.s3rec:S3Rec:S3RecConfig", "s3rec", {"use_attributes": False},
               extra_outputs=PRETRAIN_LOG),
    ModelEntry("bert4rec", "FeiSun/BERT4Rec", "BERT4Rec: bidirectional Transformer, cloze masking, BERT's optimiser",
               "baselines.bert4rec:BERT4Rec:BERT4RecConfig", "bert4rec"),
    ModelEntry("bert4rec-adam", "FeiSun/BERT4Rec", "BERT4Rec trained with the harness's constant Adam (lr 1e-3)",
               "baselines.bert4rec:BERT4Rec:BERT4RecConfig", "bert4rec", {"optimizer": "adam"}),
    ModelEntry("coserec", "YChen1993/CoSeRec @692cb41", "CoSeRec: informed insert/substitute augmentations",
               "baselines.coserec:CoSeRec:CoSeRecConfig", "coserec"),
    ModelEntry("dssrec", "abinashsinha330/DSSRec @eb0ca62 (third-party)",
               "DSSRec: seq2item + confident seq2seq intent pre-training, then SASRec fine-tuning",
               "baselines.dssrec:DSSRec:DSSRecConfig", "dssrec", extra_outputs=PRETRAIN_LOG),
    ModelEntry("iocrec", "LFM-bot/IOCRec @a1b91db (third-party)",
               "IOCRec: local + global intents, CE on the max over intents + InfoNCE of B*K intent views",
               "baselines.iocrec:IOCRec:IOCRecConfig", "iocrec"),
    ModelEntry("bpr-mf", "xiangwang1223/neural_graph_collaborative_filtering (BPRMF.py @04dada5)",
               "BPR-MF: user and item embeddings, pairwise BPR loss, TF RMSProp",
               "baselines.bprmf:BPRMF:BPRMFConfig", "bpr-mf"),
    ModelEntry("gru4rec", "RUCAIBox/RecBole gru4rec.py @b616af6", "GRU4Rec: GRU over the sequence, CE on every prefix",
               "baselines.gru4rec:GRU4Rec:GRU4RecConfig", "gru4rec"),
    ModelEntry("caser", "graytowne/caser_pytorch @3e9ccfc", "Caser: CNN over the last L items + user, T targets",
               "baselines.caser:Caser:CaserConfig", "caser"),
    ModelEntry("dcrec", "HKUDS/DCRec @2338233", "DCRec: transition + co-interaction item graphs, conformity-weighted CL",
               "baselines.dcrec:DCRec:DCRecConfig", "dcrec"),
    ModelEntry("maerec", "HKUDS/MAERec @bd92f2c", "MAERec: graph masked autoencoder, adaptive path masking",
               "baselines.maerec:MAERec:MAERecConfig", "maerec"),
]
MODELS: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}


def missing_requirement(name: str, dataset: str, dataset_dir: Path) -> str | None:
    """Why ``name`` cannot run on ``dataset`` (a file the model needs is absent), or None."""
    for needed in get_entry(name).needs_files:
        if not (dataset_dir / needed).is_file():
            return f"{name} needs {needed}, which {dataset} does not have"
    return None


def get_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def dataset_settings(entry: ModelEntry, dataset: str) -> dict[str, Any]:
    if entry.settings is None or not (CONFIG_DIR / f"{entry.settings}.yaml").is_file():
        return {}
    raw = yaml.safe_load((CONFIG_DIR / f"{entry.settings}.yaml").read_text()) or {}
    return {**(raw.get("defaults") or {}), **((raw.get("datasets") or {}).get(dataset) or {})}


def _coerce(value: Any, like: Any, key: str) -> Any:
    if not isinstance(value, str):
        return tuple(value) if isinstance(like, tuple) and isinstance(value, list) else value
    if isinstance(like, tuple):  # "0,50,100" or "[0, 50]": a tuple of integers (snapshot_epochs)
        text = value.strip("[]() ")
        return tuple(int(v) for v in text.replace(",", " ").split()) if text else ()
    if isinstance(like, bool):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{key} expects true/false, not {value!r}")
    try:
        return type(like)(value) if like is not None else value
    except ValueError:
        raise ConfigError(f"{key} expects a {type(like).__name__}, not {value!r}") from None


# Settings several models share, with the range every one of them needs (a model's own validate() adds the rest).
POSITIVE_SETTINGS = ("hidden", "layers", "heads", "max_len", "k")
FRACTION_SETTINGS = ("attn_dropout", "hidden_dropout")  # in [0, 1)


def check_shared_settings(name: str, cfg: Any) -> None:
    """Refuse sizes below 1, dropout outside [0, 1), non-finite numbers, and a hidden size the heads do not divide."""
    import math

    values = dataclasses.asdict(cfg)
    bad = [f"{k}={values[k]!r} (must be >= 1)" for k in POSITIVE_SETTINGS if k in values and values[k] < 1]
    bad += [f"{k}={values[k]!r} (must lie in [0, 1))" for k in FRACTION_SETTINGS if k in values
            and not 0.0 <= values[k] < 1.0]
    bad += [f"{k}={v!r} (must be finite)" for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad and values.get("heads") and values.get("hidden") and values["hidden"] % values["heads"]:
        bad.append(f"hidden={values['hidden']} is not a multiple of heads={values['heads']}")
    if bad:
        raise ConfigError(f"{name}: invalid settings: {'; '.join(bad)}")


def resolve_config(name: str, dataset: str, overrides: dict[str, Any] | None = None) -> tuple[type, Any]:
    """(model class, config) for a model on a dataset: dataclass defaults <- YAML <- variant <- overrides."""
    entry = get_entry(name)
    loaded = entry.load()
    if loaded is None:
        raise ConfigError(f"model {name!r} ({entry.source}) is not implemented yet; implemented models: "
                          + ", ".join(n for n, e in MODELS.items() if e.status == "implemented"))
    model_cls, cfg_cls = loaded
    defaults = cfg_cls()
    known = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(cfg_cls)}
    values: dict[str, Any] = {}
    for source in (dataset_settings(entry, dataset), entry.overrides, overrides or {}):
        for key, value in source.items():
            if key not in known:
                raise ConfigError(f"{name} has no setting {key!r}; its settings: {', '.join(known)}")
            values[key] = _coerce(value, known[key], key)
    cfg = cfg_cls(**values)
    check_shared_settings(name, cfg)
    if hasattr(cfg, "validate"):
        try:
            cfg.validate()
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return model_cls, cfg


def build_model(name: str, dataset: str, item_size: int, overrides: dict[str, Any] | None = None,  # noqa: ANN201
                num_users: int | None = None):
    """(model, config); ``num_users`` fills the ``num_users`` setting of models with a user table (BPR-MF, Caser)."""
    model_cls, cfg = resolve_config(name, dataset, overrides)
    if num_users is not None and hasattr(cfg, "num_users"):
        cfg.num_users = num_users
    return model_cls(item_size, cfg), cfg
