# Helpers shared by all the workflow files: preset resolution, config validation, target lists, run outputs.
# Parsing the workflow imports no torch or pandas of ours: the registries below are plain Python (a SLURM
# submit node or `snakemake -n` does not pay for torch).
import json
import os
import re

import yaml
from snakemake.utils import update_config, validate

from elcrec.data.registry import ATTRIBUTE_FILE, DATASETS, get_spec, mirror_holds
from elcrec.errors import HarnessError
from elcrec.models.registry import MODELS
from elcrec.records import load_block
from elcrec.report.reference import statistics_datasets
from elcrec.runfolder import FINAL_FILES, variant_name

RUN = "results/runs/{dataset}/{model}/seed{seed}"


def typed_overrides(value, schema):
    """--config values retyped by the schema: Snakemake reads nested values as strings (seeds=[3] gives ['3'],
    'protocol={max_epochs: 2}' gives {'max_epochs': '2'}), and a bare value for a list becomes a one-item list."""
    kind = schema.get("type")
    if kind == "array" and not isinstance(value, list):
        value = [value]
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: typed_overrides(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if isinstance(value, list):
        return [typed_overrides(v, schema.get("items", {})) for v in value]
    if isinstance(value, str) and kind in ("integer", "number", "boolean"):
        parsed = yaml.safe_load(value)  # a value that does not parse as the type is left for the schema to name
        wanted = bool if kind == "boolean" else int if kind == "integer" else (int, float)
        if isinstance(parsed, wanted) and (kind == "boolean" or not isinstance(parsed, bool)):
            return parsed
    return value


def _resolve_config():
    """config.yaml <- presets/<preset>.yaml <- --config (command-line values win over the preset).

    The Snakefile loads no configfile itself, so `config` holds exactly the user's --config/--configfile values
    here; they are applied last (no Snakemake internals needed).
    """
    user = dict(config)
    for key in ("data_mirror", "records"):  # `--config data_mirror=` means no mirror (records=: local runs)
        if key in user and user[key] is None:
            user[key] = ""
    with open(os.path.join(workflow.basedir, "config", "config.yaml")) as fh:
        merged = yaml.safe_load(fh)
    name = user.get("preset", merged.get("preset", "paper"))
    path = os.path.join(workflow.basedir, "config", "presets", f"{name}.yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(os.path.dirname(path)) if f.endswith(".yaml"))
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    with open(path) as fh:
        update_config(merged, yaml.safe_load(fh) or {})
    schema_path = os.path.join(workflow.basedir, "config", "schema.yaml")
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    update_config(merged, typed_overrides(user, schema))
    config.clear()
    config.update(merged)
    validate(config, schema_path, set_default=True)


_resolve_config()

# Published records (--config records=benchmarks/records/published/<block>; docs/published_records.md): the analysis
# reads that block's run folders instead of results/runs, so nothing is trained and local runs are never mixed in.
# The block's runs decide the datasets, models and seeds (the configured lists are not used then).
def _load_records():
    if not config["records"]:
        return None
    try:
        return load_block(config["records"], check_ranks=False)  # the full check: benchmarks/import_records.py, tests
    except HarnessError as exc:
        raise ValueError(f"--config records={config['records']}: {exc}") from None


BLOCK = _load_records()
RUNS_ROOT = str(BLOCK.runs_root) if BLOCK else "results/runs"
if BLOCK:
    config["datasets"] = list(dict.fromkeys(d for d, _, _ in BLOCK.run_names()))
RECORDS_OPTION = f"--records {config['records']}" if BLOCK else ""


def _stamp_source():
    """results/analysis_source.txt names where the analysis reads its runs; it is rewritten (here, when the workflow
    is parsed) only when that changes. Every analysis job takes it as an input, so switching between local runs and
    a published block rebuilds every table, figure and report (the profiles replan on mtime only), instead of
    leaving outputs of the other source in place."""
    text = f"records {config['records']}\n" if BLOCK else "local runs results/runs\n"
    path = os.path.join("results", "analysis_source.txt")
    if not os.path.isfile(path) or open(path).read() != text:
        os.makedirs("results", exist_ok=True)
        part = f"{path}.part"
        with open(part, "w") as fh:
            fh.write(text)
        os.replace(part, path)
    return path


SOURCE_STAMP = _stamp_source()


def runs_root(wildcards):
    """--runs of the analysis commands: results/runs, or the published block's runs/ (config records)."""
    return RUNS_ROOT


# The mirror reaches the download jobs through the environment (python -m elcrec reads $ELCREC_DATA_MIRROR), not
# through params: a different spelling of the same mirror (a trailing slash, the cluster's mount) must not mark
# finished jobs as outdated. SLURM jobs inherit it (sbatch exports the environment) and re-parse this file too.
if config["data_mirror"]:
    os.environ.update(ELCREC_DATA_MIRROR=os.path.expanduser(config["data_mirror"]))


# Software environment of all the rules (with --software-deployment-method conda): the CPU build of torch, or
# its CUDA build on GPU machines (--config conda_env=cuda).
CONDA_ENV = {"cpu": "envs/harness.yaml", "cuda": "envs/harness-cuda.yaml"}[config["conda_env"]]


def dataset_available(name):
    """Whether ``name`` will be there to train on, decided when the workflow is parsed.

    Only an optional dataset (MIND-small: not redistributable) may be unavailable: it is when its prepared
    status.json says so, or, before it is prepared, when a mirror is given that lacks its files. Any other dataset
    that cannot be obtained fails its download job with a message naming it.
    """
    if not get_spec(name).optional:
        return True
    status = os.path.join("data", name, "status.json")
    if os.path.isfile(status):
        with open(status) as fh:
            return json.load(fh).get("status") == "ok"
    return not config["data_mirror"] or mirror_holds(name, os.path.expanduser(config["data_mirror"]))


def dataset_files(name):
    """Files besides the sequences that a prepared dataset folder holds (S3-Rec's item attributes)."""
    spec = get_spec(name)
    while spec.parent is not None and spec.attributes is None:
        spec = get_spec(spec.parent)
    return {ATTRIBUTE_FILE} if spec.attributes is not None else set()


def not_run_reason(dataset, model):
    """Why this run cannot happen (it then gets a 'not run' record instead of training), or None."""
    if not dataset_available(dataset):
        return "dataset unavailable"
    missing = set(MODELS[model.split("~")[0]].needs_files) - dataset_files(dataset)
    return f"needs {', '.join(sorted(missing))}" if missing else None


def stats_files():
    """stats.json of the configured datasets, then of every dataset whose statistics the paper prints (Tables
    6-7): seconds of work once the data is there, so the datasets table and claim D1 are judged in every preset."""
    names = dict.fromkeys([*config["datasets"], *statistics_datasets()])
    return expand("results/data/{dataset}/stats.json", dataset=list(names))


def _run_names():
    """(dataset, model, seed) of every run the configuration asks for: the grid, then the sensitivity runs (with
    published records: the block's runs)."""
    if BLOCK:
        runs = BLOCK.run_names()
        return [r for r in runs if "~" not in r[1]], [r for r in runs if "~" in r[1]]
    grid = [(d, m, s) for d in config["datasets"] for m in config["models"] for s in config["seeds"]]
    sens = config["sensitivity"]
    models = [variant_name("elcrec", {param: v}) for param in ("alpha", "k") for v in sens[param]]
    extra = [(d, m, s) for d in sens["datasets"] if d in config["datasets"] for m in models for s in sens["seeds"]]
    return grid, extra


def _run_file(dataset, model, seed):
    """The file that stands for a run: its metrics.json (finished or 'not run' record)."""
    return f"{RUNS_ROOT}/{dataset}/{model}/seed{seed}/metrics.json"


def run_files():
    grid, _ = _run_names()
    return [_run_file(*run) for run in grid]


def sensitivity_files():
    """Runs elcrec~alpha=V and elcrec~k=V (the dataset's own value is the plain elcrec run)."""
    _, extra = _run_names()
    return [_run_file(*run) for run in extra]


def run_dirs(files):
    """The run folders of a list of run files: what the report commands read (--run-dirs), and nothing else."""
    return " ".join(sorted({os.path.dirname(f) for f in files if os.path.basename(f) == "metrics.json"}))


def not_run_pattern():
    """Regex of the dataset/model pairs of this configuration that get a 'not run' record (rule not_run)."""
    grid, extra = _run_names()
    pairs = [] if BLOCK else sorted({f"{d}/{m}" for d, m, _ in grid + extra if not_run_reason(d, m)})
    return "|".join(re.escape(p) for p in pairs) or "(?!)"  # (?!) matches nothing


def model_pattern(extra_outputs):
    """Regex of the run names (with ~settings) of the registered models that write ``extra_outputs``."""
    names = [name for name, entry in MODELS.items() if entry.extra_outputs == tuple(extra_outputs)]
    return "(" + "|".join(re.escape(n) for n in names) + r")(~[a-z_]+=[0-9.e+-]+)*"


def run_outputs(extra_outputs=()):
    """Every file a training job writes: elcrec.runs.FINAL_FILES plus the model's own (folders as directory())."""
    out = {name.split(".")[0]: os.path.join(RUN, name) for name in FINAL_FILES}
    for name in extra_outputs:
        path = os.path.join(RUN, name.rstrip(os.sep))
        out[os.path.basename(path).split(".")[0]] = directory(path) if name.endswith(os.sep) else path
    return out


def extra_output_kinds():
    """The distinct extra_outputs of the registered models except the plain one (one train rule each)."""
    return sorted({entry.extra_outputs for entry in MODELS.values() if entry.extra_outputs})


def _protocol_defaults():
    with open(os.path.join(workflow.basedir, "config", "schema.yaml")) as fh:
        schema = yaml.safe_load(fh)
    return {
        section: {k: v.get("default") for k, v in schema["properties"][section]["properties"].items()}
        for section in ("protocol", "evaluation")
    }


PROTOCOL_DEFAULTS = _protocol_defaults()


def table_datasets():
    """Datasets shown in Table 1, efficiency and ablation: the configured ones (ml-1m/MIND have their own tables)."""
    shown = [d for d in config["datasets"] if d not in ("ml-1m", "MIND-small")]
    return " ".join(shown or config["datasets"])


def train_options(wildcards):
    """CLI options of one training run.

    Protocol values are passed only where the configuration changes them from the shared defaults, so that a
    model keeps its original code's own protocol (S3-Rec's patience 10, BERT4Rec's epochs) unless asked.
    """
    defaults = PROTOCOL_DEFAULTS
    options = []
    for section in ("protocol", "evaluation"):
        for key, value in config[section].items():
            if value == defaults[section].get(key):
                continue
            options.append(f"--max-epochs {value}" if key == "max_epochs" else f"--set {key}={value}")
    settings = config["model_settings"].get(wildcards.model, {})
    options += [f"--set {key}={value}" for key, value in settings.items()]
    if config["step_mode"] != "auto":
        options.append(f"--set step_mode={config['step_mode']}")
    return " ".join(options)


def device_option(wildcards, resources):
    """--device of a training job: the configured one; a job that reserved a GPU trains on CUDA (or fails)."""
    device = config["device"]
    if device == "auto" and resources.get("gpu", 0):
        device = "cuda"
    return "" if device == "auto" else f"--device {device}"


def gpu_pin(wildcards, resources):
    """Prefix that pins a local training job to free GPUs (CUDA_VISIBLE_DEVICES), when config local_gpus > 0.

    Snakemake counts GPUs (resource gpu, capped by --resources gpu=N) but does not say which ones a job may use;
    `python -m elcrec.gpu_pin` takes a lock per device under .snakemake/gpu-locks. Under SLURM (or with
    local_gpus 0) nothing is pinned: the scheduler sets CUDA_VISIBLE_DEVICES itself.
    """
    if not config["local_gpus"] or not resources.get("gpu", 0):
        return ""
    return f"python -m elcrec.gpu_pin --devices {config['local_gpus']} --take {resources['gpu']} --"


def gpu_slot_request(wildcards):
    """One `gpu_slots` unit per training job when runs are packed onto a GPU (config gpu_slots > 0), else none."""
    return 1 if config["gpu_slots"] > 0 else 0


def _provide_gpu_slots():
    """Offer config gpu_slots slots (N trainings on one GPU) unless --resources gpu_slots=... already set them."""
    if config["gpu_slots"] > 0 and "gpu_slots" not in workflow.global_resources:
        workflow.register_resource("gpu_slots", config["gpu_slots"])


_provide_gpu_slots()
