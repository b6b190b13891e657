#!/usr/bin/env bash
# The GPU measurements of docs/performance.md in one call, inside a time budget.
#
#   LOSSLAB_DATA=/path/to/data bash benchmarks/gpu.sh [OUTDIR] [SECONDS]
#
# Runs from the repository root with the python3 that has a CUDA build of torch (losslab is taken
# from src/, so nothing is installed). Phases, most important first; each is skipped when too
# little of the budget (default 520 s) is left, and each writes OUTDIR/<phase>.log:
#   smoke    the grid and modes benchmarks in quick mode on cuda; if they fail, the grid's quick mode with
#            replicas=True (smoke-true) picks the mode for the rest, and the script stops if that fails too
#   grid-d   benchmarks.grid on digits-inpaint: ll.compare against the naive loop, one repetition
#   grid-r   the same on retinamnist (needs LOSSLAB_DATA)
#   modes-d  benchmarks.modes on digits-inpaint: replicas=False / True / "laws", time and agreement
#   kernels  benchmarks.kernels on cuda at 1e5, 1e6 and 1e7 labels
#   modes-r  benchmarks.modes on retinamnist
# PHASES=smoke,kernels (say) runs only those; DEVICE=cpu runs the script on a machine without a GPU.
set -u
OUTDIR=${1:-gpu-out}
BUDGET=${2:-520}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu tries the script itself on a machine without a GPU
PHASES=${PHASES:-all}   # or a comma-separated list of the phases below

phase() {  # phase NAME MAX_SECONDS MIN_SECONDS COMMAND...: run it with what is left of the budget
  local name=$1 max=$2 min=$3 left
  shift 3
  if [[ $PHASES != all && ",$PHASES," != *",${name%-true},"* ]]; then  # smoke-true goes with smoke
    echo "== $name: skipped, not in PHASES=$PHASES"
    return 0
  fi
  left=$((BUDGET - SECONDS - 5))
  if ((left < min)); then
    echo "== $name: skipped, ${left}s of the budget left (needs ${min}s)"
    return 0
  fi
  ((left < max)) && max=$left
  echo "== $name (at ${SECONDS}s, limit ${max}s): $*"
  timeout "$max" "$@" >"$OUTDIR/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUTDIR/$name.log"
  echo "== $name: exit $rc after $((SECONDS))s"
  return $rc
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  echo "cpus: $(nproc)"
  "$PY" -c "import torch, numpy, pandas, sklearn; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0)); print('numpy', numpy.__version__, 'pandas', pandas.__version__, 'sklearn', sklearn.__version__)"
} 2>&1 | tee "$OUTDIR/info.log"

D=$DEVICE REP=auto MODES=false,true,laws
quick="$PY -m benchmarks.grid --quick --device $D --data digits-inpaint,retinamnist"
if ! phase smoke 120 30 bash -c "$quick && $PY -m benchmarks.modes --quick --device $D"; then
  # Laws batched together are new on a GPU: if they fail, measure with one batched model per law.
  phase smoke-true 90 30 bash -c "$quick --replicas true" || { echo "smoke failed: stopping"; exit 1; }
  REP=true MODES=false,true
fi
phase grid-d 230 60 "$PY" -m benchmarks.grid --device "$D" --data digits-inpaint --reps 1 --replicas "$REP"
phase grid-r 160 60 "$PY" -m benchmarks.grid --device "$D" --data retinamnist --reps 1 --replicas "$REP"
phase modes-d 100 40 "$PY" -m benchmarks.modes --device "$D" --data digits-inpaint --reps 1 --modes "$MODES"
phase kernels 50 25 "$PY" -m benchmarks.kernels --device "$D" --reps 5
phase modes-r 100 40 "$PY" -m benchmarks.modes --device "$D" --data retinamnist --reps 1 --modes "$MODES"
echo "== done at ${SECONDS}s"
