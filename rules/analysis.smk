# Analysis: summary, significance, paper tables, reproduction report, figures (the report layer reads files only).
# Each job reads exactly the run folders of its declared inputs (--run-dirs), never whatever lies in results/runs.
from elcrec.report.paper_tables import FIGURES
from elcrec.report.paper_tables import TABLES as PAPER_TABLES

# Published records hold no weights or snapshots, so the t-SNE and intent figures need local runs.
FIGURES = [f for f in FIGURES if not (BLOCK and f in ("tsne", "intent_by_activity"))]


rule summary:
    input:
        SOURCE_STAMP,
        run_files(),
        sensitivity_files(),
    output:
        summary=report("results/summary.csv", caption="report/summary.rst", category="Results"),
        cells="results/summary_cells.csv",
    params:
        runs=lambda wildcards, input: run_dirs(input),
        root=runs_root,
    log:
        "logs/analysis/summary.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec summary --runs {params.root} --run-dirs {params.runs} --out {output.summary} "
        "--cells {output.cells} > {log} 2>&1"


rule significance:
    input:
        SOURCE_STAMP,
        run_files(),
    output:
        "results/significance/report.md",
        expand("results/significance/{dataset}.csv", dataset=config["datasets"]),
    params:
        runs=lambda wildcards, input: run_dirs(input),
        root=runs_root,
        records=RECORDS_OPTION,
    log:
        "logs/analysis/significance.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec significance {params.records} --runs {params.root} --run-dirs {params.runs} "
        "--out-dir results/significance > {log} 2>&1"


rule paper_table:
    input:
        SOURCE_STAMP,
        run_files(),
    output:
        "paper_tables/{table}.md",
        "paper_tables/{table}.csv",
        "paper_tables/{table}.tex",
    wildcard_constraints:
        table="|".join(PAPER_TABLES),
    params:
        datasets=table_datasets(),
        runs=lambda wildcards, input: run_dirs(input),
        root=runs_root,
        records=RECORDS_OPTION,
    log:
        "logs/analysis/{table}.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec table {wildcards.table} {params.records} --runs {params.root} --run-dirs {params.runs} "
        "--out-dir paper_tables --datasets {params.datasets} > {log} 2>&1"


rule reproduction:
    input:
        SOURCE_STAMP,
        runs=run_files() + sensitivity_files(),
        stats=stats_files(),
    output:
        report_md="paper_tables/reproduction.md",
        numbers="paper_tables/reproduction.csv",
        claims="paper_tables/reproduction_claims.csv",
    params:
        runs=lambda wildcards, input: run_dirs(input.runs),
        root=runs_root,
        records=RECORDS_OPTION,
    log:
        "logs/analysis/reproduction.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec reproduction {params.records} --runs {params.root} --run-dirs {params.runs} "
        "--stats-root results/data --out {output.report_md} > {log} 2>&1"


rule intents:
    input:
        checkpoint="results/runs/{dataset}/elcrec/seed1/model.pt",
        data="data/{dataset}",
    output:
        "results/intents/{dataset}.csv",
    log:
        "logs/analysis/intents_{dataset}.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec intents --checkpoint {input.checkpoint} --dataset {wildcards.dataset} --data-dir data "
        "--out {output} > {log} 2>&1"


# The Snakemake report shows HTML inline (Markdown only as a download): every table and report also as HTML.
rule html_table:
    input:
        "paper_tables/{table}.md",
    output:
        report("paper_tables/{table}.html", caption="report/table.rst", category="Tables"),
    wildcard_constraints:
        table="|".join(["datasets", *PAPER_TABLES]),
    log:
        "logs/analysis/{table}.html.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec html {input} --out {output} > {log} 2>&1"


use rule html_table as html_reproduction with:
    input:
        "paper_tables/reproduction.md",
    output:
        report("paper_tables/reproduction.html", caption="report/reproduction.rst", category="Reproduction"),
    wildcard_constraints:
        table="",
    log:
        "logs/analysis/reproduction.html.log",


use rule html_table as html_significance with:
    input:
        "results/significance/report.md",
    output:
        report("results/significance/report.html", caption="report/significance.rst", category="Significance"),
    wildcard_constraints:
        table="",
    log:
        "logs/analysis/significance.html.log",


rule tables:
    input:
        multiext("paper_tables/datasets", ".md", ".csv", ".tex", ".html"),
        expand("paper_tables/{table}.{ext}", table=PAPER_TABLES, ext=["md", "csv", "tex", "html"]),
        "paper_tables/reproduction.md",
        "paper_tables/reproduction.html",


rule analysis:
    input:
        "results/summary.csv",
        "results/significance/report.md",
        "results/significance/report.html",
        rules.tables.input,
        expand("figures/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),


rule figure_from_runs:
    input:
        SOURCE_STAMP,
        run_files(),
        sensitivity_files(),
    output:
        pdf="figures/{figure}.pdf",
        png=report("figures/{figure}.png", caption="report/figure.rst", category="Figures"),
    wildcard_constraints:
        figure="ablation|sensitivity_alpha|sensitivity_k|convergence",
    params:
        runs=lambda wildcards, input: run_dirs(input),
        root=runs_root,
    log:
        "logs/figures/{figure}.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec figure {wildcards.figure} --runs {params.root} --run-dirs {params.runs} "
        "--out {output.pdf} > {log} 2>&1"


rule figure_tsne:
    input:
        f"results/runs/{config['figures']['dataset']}/elcrec/seed1/metrics.json",
        f"results/runs/{config['figures']['dataset']}/elcrec/seed1/snapshots",
    output:
        pdf="figures/tsne.pdf",
        png=report("figures/tsne.png", caption="report/figure.rst", category="Figures"),
    params:
        dataset=config["figures"]["dataset"],
        projection=config["figures"]["projection"],
        runs=lambda wildcards, input: run_dirs(input[:1]),
    log:
        "logs/figures/tsne.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec figure tsne --runs results/runs --run-dirs {params.runs} --dataset {params.dataset} "
        "--projection {params.projection} --out {output.pdf} > {log} 2>&1"


rule figure_intent_by_activity:
    input:
        f"results/intents/{config['figures']['dataset']}.csv",
    output:
        pdf="figures/intent_by_activity.pdf",
        png=report("figures/intent_by_activity.png", caption="report/figure.rst", category="Figures"),
    params:
        dataset=config["figures"]["dataset"],
    log:
        "logs/figures/intent_by_activity.log",
    conda:
        CONDA_ENV
    shell:
        "python -u -m elcrec figure intent_by_activity --intents {input} --dataset {params.dataset} "
        "--out {output.pdf} > {log} 2>&1"


rule figures:
    input:
        expand("figures/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),
