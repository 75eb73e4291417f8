# Training: one run folder per dataset x model x seed, every file it writes declared (elcrec/runs.py lists them;
# a model's own extra files come from its registry entry). While training, resume.pt and snapshots.partial/ are
# the job's scratch state (kept by Snakemake when a job fails, so that the next attempt resumes).


rule train:
    input:
        "data/{dataset}",
    output:
        **run_outputs(),
    wildcard_constraints:
        model=model_pattern(()),
    params:
        out=RUN,
        options=train_options,
        device=device_option,
        pin=gpu_pin,
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    threads: config["train_threads"]
    resources:
        gpu=config["train_gpus"],
        gpu_slots=gpu_slot_request,
    conda:
        CONDA_ENV
    # python -u: the log grows line by line (tail -f works; a job killed at its time limit keeps its last lines).
    # Interrupted runs resume from the run folder's resume.pt.
    shell:
        "{params.pin} python -u -m elcrec train --dataset {wildcards.dataset} --model {wildcards.model} "
        "--seed {wildcards.seed} --out {params.out} --data-dir data --threads {threads} {params.device} {params.options} > {log} 2>&1"


# The same job for models that write more files (ELCRec's snapshots/, S3-Rec's pretrain_log.csv).
use rule train as train_snapshots with:
    output:
        **run_outputs(("snapshots/",)),
    wildcard_constraints:
        model=model_pattern(("snapshots/",)),


use rule train as train_pretrain with:
    output:
        **run_outputs(("pretrain_log.csv",)),
    wildcard_constraints:
        model=model_pattern(("pretrain_log.csv",)),


ruleorder: not_run > train_pretrain > train_snapshots > train


rule not_run:
    # A run that cannot happen (its dataset is unavailable, or the model needs a file the dataset lacks) gets a
    # metrics.json with status "not run: <reason>", and every table says so. Which runs these are is decided when
    # the workflow is parsed (common.smk: not_run_reason); {pair} is "dataset/model" of exactly those runs.
    input:
        lambda wildcards: f"data/{wildcards.pair.split('/')[0]}",
    output:
        "results/runs/{pair}/seed{seed}/metrics.json",
    wildcard_constraints:
        pair=not_run_pattern(),
    params:
        dataset=lambda wildcards: wildcards.pair.split("/")[0],
        model=lambda wildcards: wildcards.pair.split("/")[1],
    log:
        "logs/train/{pair}/seed{seed}.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec train --dataset {params.dataset} --model {params.model} --seed {wildcards.seed} "
        "--out results/runs/{wildcards.pair}/seed{wildcards.seed} --data-dir data --record-not-run > {log} 2>&1"


rule runs:
    input:
        run_files(),
        sensitivity_files(),
