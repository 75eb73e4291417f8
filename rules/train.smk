# Training: one run directory per dataset x model x seed (elcrec/runs.py lists its files).


rule train:
    input:
        "data/{dataset}",
    output:
        "results/runs/{dataset}/{model}/seed{seed}/metrics.json",
    params:
        out="results/runs/{dataset}/{model}/seed{seed}",
        options=train_options,
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    threads: config["train_threads"]
    resources:
        gpu=config["train_gpus"],
        gpu_slots=gpu_slot_request,
    conda:
        "envs/harness.yaml"
    # Interrupted runs resume from results/runs/.../resume.pt; an unavailable dataset gives a "not run" record.
    shell:
        "python -m elcrec train --dataset {wildcards.dataset} --model {wildcards.model} --seed {wildcards.seed} "
        "--out {params.out} --data-dir data --threads {threads} --allow-unavailable {params.options} > {log} 2>&1"


rule runs:
    input:
        run_files(),
