"""Each list has one source of truth: the model registry (elcrec/models/registry.py), the table registry
(elcrec/report/paper_tables.py) and the training defaults (elcrec.train.TrainConfig). Every copy that a tool
needs in its own format (the schema's enum, the presets, the report's columns, config.yaml) is checked here."""
from __future__ import annotations

import dataclasses
from importlib.util import find_spec
from pathlib import Path

import yaml

from elcrec.models.registry import MODELS
from elcrec.report.names import ABLATION_VARIANTS, EFFICIENCY_MODELS, EXTRA_COLUMNS, TABLE1_COLUMNS
from elcrec.report.paper_tables import TABLES, builder

REPO = Path(__file__).resolve().parents[1]


def _yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def _implemented() -> list[str]:
    return [name for name, e in MODELS.items() if e.impl and find_spec(e.impl.split(":")[0]) is not None]


def test_schema_model_enum_is_the_registry() -> None:
    enum = _yaml("config/schema.yaml")["properties"]["models"]["items"]["enum"]
    assert enum == list(MODELS), "config/schema.yaml's models enum must list elcrec/models/registry.py's models in order"


def test_presets_train_known_models_and_quick_tiny_train_every_implemented_one() -> None:
    assert set(_yaml("config/config.yaml")["models"]) <= set(MODELS)
    for preset in ("paper", "quick", "tiny"):
        models = (_yaml(f"config/presets/{preset}.yaml") or {}).get("models")
        if models is None:
            continue
        assert set(models) <= set(MODELS), preset
        if preset in ("quick", "tiny"):  # README: the quick preset trains every implemented model
            assert models == _implemented(), preset


def test_every_registered_model_has_a_place_in_the_report() -> None:
    placed = {c.harness for c in TABLE1_COLUMNS + EXTRA_COLUMNS if c.harness} | {h for _, h in ABLATION_VARIANTS}
    assert placed <= set(MODELS)
    assert {h for _, h in EFFICIENCY_MODELS} <= set(MODELS)
    assert set(MODELS) <= placed, f"registered but in no table: {sorted(set(MODELS) - placed)}"


def test_one_table_registry_for_the_cli_and_the_rules() -> None:
    from elcrec.cli import build_parser

    table = next(a for a in build_parser()._subparsers._group_actions[0].choices["table"]._actions
                 if a.dest == "table")
    assert list(table.choices) == ["datasets", *TABLES]
    assert "from elcrec.report.paper_tables import TABLES" in (REPO / "rules" / "analysis.smk").read_text()
    for name in TABLES:
        assert callable(builder(name)), name


def test_training_defaults_agree_with_the_schema_and_config_yaml() -> None:
    from elcrec.models.base import EncoderConfig
    from elcrec.train import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    defaults["max_len"] = EncoderConfig().max_len
    schema = _yaml("config/schema.yaml")["properties"]
    config = _yaml("config/config.yaml")
    for section in ("protocol", "evaluation"):
        for key, spec in schema[section]["properties"].items():
            assert spec["default"] == defaults[key], f"schema {section}.{key}"
            assert config[section][key] == defaults[key], f"config.yaml {section}.{key}"
