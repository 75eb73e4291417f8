# Two-command quick start (README): `make quick` and `make test`; both set everything up first.
PYTHON ?= python3
# The offline data mirror: ../shared/data where it exists (CI and this team's machines), else download.
DATA_MIRROR ?= $(firstword $(wildcard ../shared/data))
CORES ?= 2

.PHONY: setup quick test lint bench

setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -q -e '.[test]'

quick: setup
	snakemake --cores $(CORES) --config preset=quick $(if $(DATA_MIRROR),data_mirror=$(DATA_MIRROR))

test: setup
	$(PYTHON) -m pytest -m "not gpu" tests

lint:
	snakemake --lint

bench: setup
	$(PYTHON) -m benchmarks.bench_evaluate --checkpoint ../shared/checkpoints/ELCRec-Beauty-1.pt \
		--dataset Beauty $(if $(DATA_MIRROR),--data-mirror $(DATA_MIRROR))
	$(PYTHON) -m benchmarks.bench_epoch --dataset Beauty --models elcrec iclrec s3rec dcrec maerec --set s3rec:pretrain_epochs=1 \
		$(if $(DATA_MIRROR),--data-mirror $(DATA_MIRROR))
