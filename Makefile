# Two-command quick start (README): `make quick` and `make test`; both set everything up first.
PYTHON ?= python3
# The offline data mirror: ../shared/data where it exists (CI and this team's machines), else download.
DATA_MIRROR ?= $(firstword $(wildcard ../shared/data))
CORES ?= 2

.PHONY: setup quick test lint bench bench-micro gpu-stage

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

# pytest-benchmark micro-benchmarks (evaluator throughput, one training step), recorded as JSON.
bench-micro: setup
	$(PYTHON) -m pytest -q benchmarks/test_micro.py -p no:cacheprovider \
		--benchmark-json benchmarks/records/$$(date +%F)_micro_$$(hostname -s).json

# What a lent GPU machine needs but cannot download (benchmarks/gpu_bench.sh, benchmarks/gpu_beauty_block.sh):
# the Beauty and Toys data and the released checkpoints from ../shared, a faiss-cpu wheel for its Python 3.12,
# and (if OFFICIAL_GIT names a git dir of yueliu1999/ELCRec, e.g. one from the fetch tool) the official code with
# its Beauty data. All in the git-ignored .gpu-stage/ (carry: [".gpu-stage"]); checked against the 64 MiB limit.
SHARED ?= ../shared
OFFICIAL_GIT ?= $(firstword $(wildcard /work/.mirror/yueliu1999+ELCRec/repo))
FAISS_VERSION ?= 1.15.1
gpu-stage:
	rm -rf .gpu-stage && mkdir -p .gpu-stage/shared/data .gpu-stage/shared/checkpoints .gpu-stage/whl
	cp $(SHARED)/data/Beauty.txt $(SHARED)/data/Beauty_item2attributes.json $(SHARED)/data/Toys_and_Games.txt \
		$(SHARED)/data/Toys_and_Games_item2attributes.json $(SHARED)/data/manifest.json $(SHARED)/data/MANIFEST.md \
		.gpu-stage/shared/data/
	cp $(SHARED)/checkpoints/ELCRec-*-1.pt $(SHARED)/checkpoints/ICLRec-*-1.pt $(SHARED)/checkpoints/MANIFEST.md \
		$(SHARED)/checkpoints/S3Rec-pretrain-Beauty-epochs-150.pt .gpu-stage/shared/checkpoints/
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu-stage/whl faiss-cpu==$(FAISS_VERSION)
	if [ -n "$(OFFICIAL_GIT)" ]; then mkdir -p .gpu-stage/elcrec-official && \
		(git --git-dir=$(OFFICIAL_GIT) archive HEAD -- 'src/*.py' src/scripts src/requirements.txt data/Beauty.txt \
		2>/dev/null | tar -x -C .gpu-stage/elcrec-official) && test -f .gpu-stage/elcrec-official/src/main.py; \
		else echo "no OFFICIAL_GIT: the official-code comparison will be reported as not run"; fi
	$(PYTHON) -c "import json, subprocess; from benchmarks.common import code_digest; \
		print(json.dumps({'git_commit': subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip(), \
		'uncommitted': bool(subprocess.run(['git', 'status', '--short', '--untracked-files=no'], capture_output=True, text=True).stdout.strip()), \
		'code_sha256': code_digest()}))" > .gpu-stage/COMMIT.json
	@du -sm .gpu-stage | awk '{ if ($$1 > 56) { print "gpu-stage: " $$1 " MiB, over the carry budget"; exit 1 } \
		else print "gpu-stage: " $$1 " MiB (carry limit 64 MiB with the repo)" }'
