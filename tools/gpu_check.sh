#!/usr/bin/env bash
# The GPU check, run once on a lent GPU machine (no network, no TensorFlow: the Keras side runs on JAX).
# From the repository root, with the wheels that machine lacks carried in .whl/ (keras, namex, optree):
#     bash tools/gpu_check.sh            # writes everything it measured to $OUT (default: gpu_check/)
# It installs nothing outside /tmp/site, and stops at the first failing step.
set -uo pipefail
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax PYTHONPATH="/tmp/site:$PWD"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 2

step() {  # step NAME COMMAND...: run it, keep its output and wall time in $OUT/NAME.log
    local name=$1; shift
    local start=$SECONDS
    echo "=== $name: $*" | tee "$OUT/$name.log"
    "$@" >>"$OUT/$name.log" 2>&1
    local code=$?
    echo "=== $name: exit $code, $((SECONDS - start)) s wall" | tee -a "$OUT/$name.log" "$OUT/summary.txt"
    return $code
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, torchvision, jax, keras; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
} >"$OUT/machine.txt" 2>&1

# every step runs: a parity FAIL (exit 1) is a finding to bring back, not a reason to stop
code=0
run_step() { step "$@" || code=$(( $? > code ? $? : code )); }
run_step tests python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
run_step audit python3 compare.py --audit --device gpu --keras-backend jax --out "$OUT/audit"
run_step quick python3 compare.py --quick --device gpu --keras-backend jax --out "$OUT/quick"
run_step default python3 compare.py --device gpu --keras-backend jax --out "$OUT/default"
run_step lockstep64 python3 compare.py --mode lockstep --dtype float64 --quick --device gpu \
    --keras-backend jax --out "$OUT/lockstep64"
run_step bench python3 bench.py --device gpu --keras-backend jax --epochs 4 --json "$OUT/bench.json"
cp "$OUT"/default/report.md "$OUT/default-report.md" 2>/dev/null
cp "$OUT"/lockstep64/report.md "$OUT/lockstep64-report.md" 2>/dev/null
exit $code
