# ELCRec benchmark and reproducibility harness.
#   snakemake --cores 8                      # everything for the configured preset (default: paper)
#   snakemake --cores 2 --config preset=quick data_mirror=../shared/data
#   snakemake paper_tables/datasets.md       # one target alone
# Configuration: config/config.yaml (the paper protocol), config/presets/<preset>.yaml on top, then --config;
# validated against config/schema.yaml. Rules call `python -m elcrec ...`; the work is in the library.
from snakemake.utils import min_version

min_version("9.0")


report: "rules/report/workflow.rst"


# config/config.yaml, the preset and --config are merged in rules/common.smk (--config wins over the preset).
include: "rules/common.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    model=r"[a-z0-9-]+(~[a-z_]+=[0-9.e+-]+)*",
    seed=r"\d+",


# Downloads need the internet, which compute nodes often lack; a 'not run' record is one small JSON file; the
# aggregate rules only collect files.
localrules:
    download,
    derive,
    not_run,
    all,
    data,
    runs,
    tables,
    analysis,
    figures,


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        stats_files(),
        multiext("paper_tables/datasets", ".md", ".csv", ".tex"),
        run_files(),
        rules.analysis.input,
