"""Load official and harness checkpoints into the shared encoder.

Official ELCRec/ICLRec/S3-Rec checkpoints are bare ``state_dict`` files in the S3-Rec naming. Harness
checkpoints wrap the same state dict as ``{"state_dict": ..., "meta": {...}}``. The encoder's shape (item
rows, hidden size, layers, max length) is read from the tensors, so no flag has to be set by hand; keys that
belong to a model's extra parts (``cluster_centers``, S3-Rec's attribute table and heads) are returned apart.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from elcrec.errors import CheckpointError
from elcrec.nn.encoder import SASRecEncoder

_LAYER = re.compile(r"^item_encoder\.layer\.(\d+)\.")


def load_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return (state_dict, meta) of an official or harness checkpoint."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path (official ones: ../shared/checkpoints)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc.__class__.__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        return obj["state_dict"], dict(obj.get("meta", {}))
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise CheckpointError(f"{path}: expected a state_dict or {{'state_dict', 'meta'}}, found {type(obj).__name__}")


def encoder_shape(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Read item_size, hidden, layers and max_len from the tensors of a state dict."""
    try:
        item_size, hidden = state["item_embeddings.weight"].shape
        max_len = state["position_embeddings.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"the checkpoint has no {exc.args[0]!r}: not a SASRec-family encoder") from None
    layers = 1 + max((int(m.group(1)) for k in state if (m := _LAYER.match(k))), default=-1)
    if layers < 1:
        raise CheckpointError("the checkpoint has no item_encoder.layer.* weights")
    return {"item_size": int(item_size), "hidden": int(hidden), "layers": layers, "max_len": int(max_len)}


def check_item_size(state: dict[str, torch.Tensor], item_size: int, dataset: str, path: str | Path = "") -> None:
    if "item_embeddings.weight" not in state:
        raise CheckpointError(f"checkpoint {path} has no item_embeddings.weight: not a checkpoint of this harness's models")
    rows = int(state["item_embeddings.weight"].shape[0])
    if rows != item_size:
        raise CheckpointError(
            f"checkpoint {path} has {rows} item rows ({rows - 2} items) but dataset {dataset!r} needs {item_size} "
            f"(max item id {item_size - 2} + pad + mask): it was trained on another dataset"
        )


# Keys an official causal checkpoint may hold beside the encoder: ELCRec's centres, S3-Rec's pre-training parts.
OFFICIAL_EXTRAS = re.compile(r"^(cluster_centers|attribute_embeddings\.weight|(aap|mip|map|sp)_norm\.(weight|bias))$")


def check_causal_encoder_state(state: dict[str, torch.Tensor], path: str | Path = "") -> None:
    """A bare state dict is scored as the causal SASRec-family encoder: refuse one that holds another model's parts.

    (A BERT4Rec state dict has an output layer and a bidirectional encoder; scoring it causally gives wrong numbers.)
    """
    own = set(SASRecEncoder(**encoder_shape(state)).state_dict())
    foreign = sorted(k for k in state if k not in own and not OFFICIAL_EXTRAS.match(k))
    if foreign:
        raise CheckpointError(
            f"{path}: a bare state dict with keys a causal SASRec-family encoder does not have ({', '.join(foreign[:4])}"
            f"{', ...' if len(foreign) > 4 else ''}); it belongs to another model (e.g. BERT4Rec). Evaluate the run's "
            "model.pt, which records its model")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path = "") -> None:
    """Load an official-layout state dict into ``model``; a checkpoint of another family or size is one clear line."""
    try:
        model.load_official_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path} does not fit a {model.__class__.__name__} of this configuration ({detail}); "
                              "it was trained with another model or other sizes") from None


def load_encoder(
    state: dict[str, torch.Tensor], heads: int = 2, causal: bool = True
) -> tuple[SASRecEncoder, dict[str, torch.Tensor]]:
    """Build an encoder of the checkpoint's shape, load its weights, and return the keys it does not own."""
    encoder = SASRecEncoder(**encoder_shape(state), heads=heads, causal=causal)
    own = set(encoder.state_dict())
    missing = own - set(state)
    if missing:
        raise CheckpointError(f"the checkpoint lacks encoder weights: {sorted(missing)[:5]}")
    encoder.load_state_dict({k: v for k, v in state.items() if k in own})
    return encoder, {k: v for k, v in state.items() if k not in own}
