# Sourced by the GPU job scripts (benchmarks/gpu_bench.sh, benchmarks/gpu_beauty_block.sh): the carried staging
# folder (make gpu-stage; run with carry [".gpu-stage"]), faiss from its carried wheel, and a clock for the job.
# Sets OUT (the output folder, first argument or $OUT), WORK (scratch, packed into $OUT), SHARED, MIRROR, DATA.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/gpu-out}}
STAGE=${GPU_STAGE:-$PWD/.gpu-stage}
BUDGET_S=${BUDGET_S:-570}  # the job's wall-clock budget: steps that would not fit are reported as not run
JOB_START=$(date +%s)
mkdir -p "$OUT"
if [ ! -d "$STAGE/shared" ]; then
  echo "no staging folder $STAGE/shared: run 'make gpu-stage' here and carry .gpu-stage"; exit 2
fi
if ! python3 -c "import faiss" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$STAGE"/whl/*.whl || { echo "could not install the carried faiss wheel"; exit 2; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
export SHARED=$STAGE/shared ELCREC_SHARED=$STAGE/shared MIRROR=$STAGE/shared/data DATA=/tmp/gpu-data
export TQDM_DISABLE=1

left() {  # seconds left of the budget
  echo $(( BUDGET_S - ($(date +%s) - JOB_START) ))
}

step() {  # step NAME CAP_SECONDS COMMAND...: run with a timeout of min(CAP, time left - 15 s), or skip
  local name=$1 cap=$2; shift 2
  local t=$(( $(left) - 15 )); [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 20 ]; then echo "== $name: not run (time: $(left) s left of the job)" | tee -a "$WORK/steps.txt"; return; fi
  echo "== $name (cap ${t}s, $(left) s left)"
  local s0=$(date +%s)
  timeout --kill-after=5 "$t" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$WORK/$name.log"
  echo "== $name: rc $rc in $(( $(date +%s) - s0 )) s" | tee -a "$WORK/steps.txt"
}

provenance() {  # provenance.json of this job: device, driver, torch/CUDA, git commit, command, date
  python3 - "$@" <<'PY'
import json, subprocess, sys, datetime, platform, torch
from benchmarks.common import code_digest
def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {exc}"
import os
staged = json.loads(open(".gpu-stage/COMMIT.json").read()) if os.path.exists(".gpu-stage/COMMIT.json") else None
digest = code_digest()
# The device machine has no .git: the commit is the staged one when the code here is the code staged with it.
local = sh("git", "rev-parse", "HEAD")
if local and not local.startswith("unavailable"):
    commit = local
elif staged and staged.get("code_sha256") == digest:
    commit = staged.get("git_commit")
else:
    commit = None  # incomplete provenance: benchmarks/import_records.py refuses it until it is filled in
print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "command": " ".join(sys.argv[1:]),
    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device",
    "driver": sh("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"),
    "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
    "git_commit": commit or None,
    "code_sha256": digest,
    "staged": staged,
}, indent=2))
PY
}
