# Analysis: summary, significance, paper tables, reproduction report, figures (the report layer reads files only).
from elcrec.report.paper_tables import TABLES as PAPER_TABLES

FIGURES = ["ablation", "sensitivity_alpha", "sensitivity_k", "convergence", "tsne", "intent_by_activity"]


rule summary:
    input:
        run_files(),
        sensitivity_files(),
    output:
        summary=report("results/summary.csv", caption="report/summary.rst", category="Results"),
        cells="results/summary_cells.csv",
    log:
        "logs/analysis/summary.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec summary --runs results/runs --out {output.summary} --cells {output.cells} > {log} 2>&1"


rule significance:
    input:
        run_files(),
    output:
        report("results/significance/report.md", caption="report/significance.rst", category="Significance"),
        expand("results/significance/{dataset}.csv", dataset=config["datasets"]),
    log:
        "logs/analysis/significance.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec significance --runs results/runs --out-dir results/significance > {log} 2>&1"


rule paper_table:
    input:
        run_files(),
    output:
        report("paper_tables/{table}.md", caption="report/table.rst", category="Tables"),
        "paper_tables/{table}.csv",
        "paper_tables/{table}.tex",
    wildcard_constraints:
        table="|".join(PAPER_TABLES),
    params:
        datasets=table_datasets(),
    log:
        "logs/analysis/{table}.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec table {wildcards.table} --runs results/runs --out-dir paper_tables "
        "--datasets {params.datasets} > {log} 2>&1"


rule reproduction:
    input:
        run_files(),
        sensitivity_files(),
        stats_files(),
    output:
        report_md=report("paper_tables/reproduction.md", caption="report/reproduction.rst", category="Reproduction"),
        numbers="paper_tables/reproduction.csv",
        claims="paper_tables/reproduction_claims.csv",
    log:
        "logs/analysis/reproduction.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec reproduction --runs results/runs --stats-root results/data --out {output.report_md} > {log} 2>&1"


rule intents:
    input:
        "results/runs/{dataset}/elcrec/seed1/metrics.json",
    output:
        "results/intents/{dataset}.csv",
    log:
        "logs/analysis/intents_{dataset}.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec intents --checkpoint results/runs/{wildcards.dataset}/elcrec/seed1/model.pt "
        "--dataset {wildcards.dataset} --data-dir data --out {output} > {log} 2>&1"


rule tables:
    input:
        multiext("paper_tables/datasets", ".md", ".csv", ".tex"),
        expand("paper_tables/{table}.{ext}", table=PAPER_TABLES, ext=["md", "csv", "tex"]),
        "paper_tables/reproduction.md",


rule analysis:
    input:
        "results/summary.csv",
        "results/significance/report.md",
        rules.tables.input,
        expand("figures/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),


rule figure_from_runs:
    input:
        run_files(),
        sensitivity_files(),
    output:
        pdf="figures/{figure}.pdf",
        png=report("figures/{figure}.png", caption="report/figure.rst", category="Figures"),
    wildcard_constraints:
        figure="ablation|sensitivity_alpha|sensitivity_k|convergence",
    log:
        "logs/figures/{figure}.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec figure {wildcards.figure} --runs results/runs --out {output.pdf} > {log} 2>&1"


rule figure_tsne:
    input:
        f"results/runs/{config['figures']['dataset']}/elcrec/seed1/metrics.json",
    output:
        pdf="figures/tsne.pdf",
        png=report("figures/tsne.png", caption="report/figure.rst", category="Figures"),
    params:
        dataset=config["figures"]["dataset"],
        projection=config["figures"]["projection"],
    log:
        "logs/figures/tsne.log",
    conda:
        "envs/harness.yaml"
    shell:
        "python -m elcrec figure tsne --runs results/runs --dataset {params.dataset} "
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
        "envs/harness.yaml"
    shell:
        "python -m elcrec figure intent_by_activity --intents {input} --dataset {params.dataset} "
        "--out {output.pdf} > {log} 2>&1"


rule figures:
    input:
        expand("figures/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),
