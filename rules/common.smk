# Helpers shared by all the workflow files: preset resolution, config validation, target lists.
import os

import yaml
from snakemake.utils import update_config, validate

from elcrec.data.registry import DATASETS
from elcrec.models.registry import MODELS
from elcrec.runfolder import variant_name


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


def run_files():
    return expand(
        "results/runs/{dataset}/{model}/seed{seed}/metrics.json",
        dataset=config["datasets"],
        model=config["models"],
        seed=config["seeds"],
    )


def _protocol_defaults():
    with open(os.path.join(workflow.basedir, "config", "schema.yaml")) as fh:
        schema = yaml.safe_load(fh)
    return {
        section: {k: v.get("default") for k, v in schema["properties"][section]["properties"].items()}
        for section in ("protocol", "evaluation")
    }


def sensitivity_files():
    """Runs elcrec~alpha=V and elcrec~k=V (the dataset's own value is the plain elcrec run)."""
    sens = config["sensitivity"]
    models = [variant_name("elcrec", {param: v}) for param in ("alpha", "k") for v in sens[param]]
    return expand(
        "results/runs/{dataset}/{model}/seed{seed}/metrics.json",
        dataset=[d for d in sens["datasets"] if d in config["datasets"]],
        model=models,
        seed=sens["seeds"],
    )


def table_datasets():
    """Datasets shown in Table 1, efficiency and ablation: the configured ones (ml-1m/MIND have their own tables)."""
    shown = [d for d in config["datasets"] if d not in ("ml-1m", "MIND-small")]
    return " ".join(shown or config["datasets"])


def train_options(wildcards):
    """CLI options of one training run.

    Protocol values are passed only where the configuration changes them from the shared defaults, so that a
    model keeps its original code's own protocol (S3-Rec's patience 10, BERT4Rec's epochs) unless asked.
    """
    defaults = _protocol_defaults()
    options = []
    for section in ("protocol", "evaluation"):
        for key, value in config[section].items():
            if value == defaults[section].get(key):
                continue
            options.append(f"--max-epochs {value}" if key == "max_epochs" else f"--set {key}={value}")
    settings = config["model_settings"].get(wildcards.model, {})
    options += [f"--set {key}={value}" for key, value in settings.items()]
    if config["device"] != "auto":
        options.append(f"--device {config['device']}")
    if config["step_mode"] != "auto":
        options.append(f"--set step_mode={config['step_mode']}")
    return " ".join(options)


def gpu_slot_request(wildcards):
    """One `gpu_slots` unit per training job when runs are packed onto a GPU (config gpu_slots > 0), else none."""
    return 1 if config["gpu_slots"] > 0 else 0


def _provide_gpu_slots():
    """Offer config gpu_slots slots (N trainings on one GPU) unless --resources gpu_slots=... already set them."""
    if config["gpu_slots"] > 0 and "gpu_slots" not in workflow.global_resources:
        workflow.register_resource("gpu_slots", config["gpu_slots"])


_provide_gpu_slots()
