# Helpers shared by all the workflow files: preset resolution, config validation, target lists.
import os

import yaml
from snakemake.utils import update_config, validate

from elcrec.data.registry import DATASETS


def _resolve_config():
    """config.yaml <- presets/<preset>.yaml <- --config (command-line values win over the preset)."""
    name = config.get("preset", "paper")
    path = os.path.join(workflow.basedir, "config", "presets", f"{name}.yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(os.path.dirname(path)) if f.endswith(".yaml"))
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    with open(path) as fh:
        update_config(config, yaml.safe_load(fh) or {})
    update_config(config, workflow.config_settings.overwrite_config)
    validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"), set_default=True)


_resolve_config()


def mirror_arg():
    """The --data-mirror option for the CLI, or nothing (then the CLI may still read $ELCREC_DATA_MIRROR)."""
    return f"--data-mirror {config['data_mirror']}" if config["data_mirror"] else ""


def stats_files():
    return expand("results/data/{dataset}/stats.json", dataset=config["datasets"])
