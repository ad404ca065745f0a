#!/usr/bin/env bash
# Side-by-side comparison of nnc with PyTorch (eager), JAX (a jitted step, and
# a whole epoch in one lax.scan) and candle on W1-W4 and the CNN W6-W7, and
# the sgemm ceiling W5 (numpy/OpenBLAS, torch.mm, nnc's gemm).
# About 5 minutes once built; not run by CI. See BENCHMARKS.md.
#
#   bench/compare/run.sh [--reps N] [--secs S] [--threads "1 2"] [--only W1,W4] [--out DIR]
#
# Environment: NNC_OTHER_RUNNER adds the rows of a runner built from another
# tree (build bench/compare/nnc-runner there, copy the binary aside); VENV
# (default $HOME/.cache/nnc-bench/venv) is created and filled from PyPI
# (numpy torch jax jaxlib) when missing; CARGO_TARGET_DIR is honoured (the
# runners build into $CARGO_TARGET_DIR/compare).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps=7 secs=0.3 threads="1 2" only="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --secs) secs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out="${out:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
venv="${VENV:-$HOME/.cache/nnc-bench/venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, torch, jax" 2>/dev/null; then
  echo "== installing numpy, torch, jax into $venv (PyPI, CPU)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q numpy torch jax jaxlib
fi
py="$venv/bin/python"
target="${CARGO_TARGET_DIR:-$here/target}/compare"
echo "== building the Rust runners (release)" >&2
CARGO_TARGET_DIR="$target" cargo build -q --release --manifest-path "$here/nnc-runner/Cargo.toml"
CARGO_TARGET_DIR="$target" cargo build -q --release --manifest-path "$here/candle-runner/Cargo.toml"
only_arg=()
[ -n "$only" ] && only_arg=(--only "$only")
common=(--reps "$reps" --secs "$secs" "${only_arg[@]}")

{ date -u; uptime; lscpu | grep -E "Model name|^CPU\(s\)"; } > "$out/machine.txt"
for t in $threads; do
  cpus="0-$((t - 1))"
  export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t RAYON_NUM_THREADS=$t
  # XLA sizes its thread pool from the CPUs taskset leaves it; with one,
  # also keep Eigen's matmuls on the calling thread.
  if [ "$t" = 1 ]; then
    export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false"
  else
    unset XLA_FLAGS
  fi
  run() { # name command...
    local name="$1"; shift
    echo "== $name, $t thread(s), round $round, cpus $cpus, load $(cut -d' ' -f1 /proc/loadavg)" >&2
    taskset -c "$cpus" "$@" "${common[@]}" | sed "s/}\$/, \"threads\": $t}/" > "$out/$name-t$t-r$round.jsonl" \
      || echo "!! $name failed at $t thread(s)" >&2
  }
  # Two rounds, the systems interleaved, so a slow minute of a shared
  # machine falls on every system rather than on one; report.py pools them.
  for round in 1 2; do
    run nnc "$target/release/nnc-compare-runner"
    # Optionally a runner built from another tree (a branch under test), for
    # an A/B in the same run: NNC_OTHER_RUNNER=/path/to/nnc-compare-runner.
    if [ -n "${NNC_OTHER_RUNNER:-}" ]; then
      NNC_SYSTEM=nnc-other run nnc-other "$NNC_OTHER_RUNNER"
    fi
    run torch "$py" "$here/peers.py" torch "$t"
    run jax "$py" "$here/peers.py" jax "$t"
    run candle "$target/release/candle-compare-runner"
    if [ "$round" = 1 ]; then run numpy "$py" "$here/peers.py" numpy "$t"; fi
  done
done
uptime >> "$out/machine.txt"
python3 "$here/report.py" "$out" | tee "$out/report.md"
