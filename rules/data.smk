# Data: download (or mirror) + sha256 -> recipe -> data/{dataset}/; statistics; the datasets table.


rule download:
    output:
        directory("data/{dataset}"),
    params:
        mirror=mirror_arg(),
    log:
        "logs/data/{dataset}.download.log",
    # --allow-unavailable: a dataset that cannot be obtained (MIND-small offline) is recorded as unavailable
    # in data/{dataset}/status.json, and every table says "not run: dataset unavailable".
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec download --dataset {wildcards.dataset} --data-dir data {params.mirror} "
        "--allow-unavailable > {log} 2>&1"


rule dataset_stats:
    input:
        "data/{dataset}",
    output:
        "results/data/{dataset}/stats.json",
    log:
        "logs/data/{dataset}.stats.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec stats --dataset {wildcards.dataset} --data-dir data --out {output} > {log} 2>&1"


rule datasets_table:
    input:
        stats_files(),
    output:
        report("paper_tables/datasets.md", caption="report/table.rst", category="Tables"),
        "paper_tables/datasets.csv",
        "paper_tables/datasets.tex",
    log:
        "logs/tables/datasets.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec table datasets --inputs {input} --out-prefix paper_tables/datasets > {log} 2>&1"


rule data:
    input:
        stats_files(),
