# Data: download (or mirror) + sha256 -> recipe -> data/{dataset}/; derived subsamples; statistics; the datasets table.
# The mirror comes from $ELCREC_DATA_MIRROR (set in common.smk from --config data_mirror), never from params.
DERIVED = [name for name, spec in DATASETS.items() if spec.parent is not None]


rule download:
    output:
        directory("data/{dataset}"),
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DATASETS if d not in DERIVED),
    params:
        # Only a dataset that may legitimately be missing (MIND-small, not redistributable) is recorded as
        # unavailable in data/{dataset}/status.json (its runs then say "not run: dataset unavailable"); any other
        # dataset that cannot be obtained fails this job with a message naming it.
        allow=lambda wildcards: "--allow-unavailable" if get_spec(wildcards.dataset).optional else "",
    log:
        "logs/data/{dataset}.download.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec download --dataset {wildcards.dataset} --data-dir data {params.allow} > {log} 2>&1"


rule derive:
    # A subsample (Beauty-sub10) is built from its prepared parent into its own folder: the parent's folder is
    # only read, so the two jobs never write the same files.
    input:
        lambda wildcards: f"data/{get_spec(wildcards.dataset).parent}",
    output:
        directory("data/{dataset}"),
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DERIVED),
    log:
        "logs/data/{dataset}.derive.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec download --dataset {wildcards.dataset} --data-dir data > {log} 2>&1"


rule dataset_stats:
    input:
        "data/{dataset}",
    output:
        "results/data/{dataset}/stats.json",
    log:
        "logs/data/{dataset}.stats.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec stats --dataset {wildcards.dataset} --data-dir data --out {output} > {log} 2>&1"


rule datasets_table:
    input:
        stats_files(),
    output:
        "paper_tables/datasets.md",
        "paper_tables/datasets.csv",
        "paper_tables/datasets.tex",
    log:
        "logs/tables/datasets.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec table datasets --inputs {input} --out-prefix paper_tables/datasets > {log} 2>&1"


rule data:
    input:
        stats_files(),
