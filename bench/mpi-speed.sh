#!/usr/bin/env bash
# Data-parallel speed of W1 (784-128-64-10, Adam) over MPI on this machine:
# one process of one thread against 2 ranks of one thread each, at global
# batches 256 and 1024, interleaved, REPS times; then the collectives of
# W1's 109,386 parameters alone (an allreduce, and the reduce-scatter plus
# all-gather a step makes), and one-process step times at the per-rank
# batches of the cluster estimate in BENCHMARKS.md. Prints the raw lines, the medians and
# the fastest runs (the least disturbed by other load).
#
#   bench/mpi-speed.sh            # REPS=5 by default
#   MPIRUN_ARGS="--mca mpi_yield_when_idle 1" bench/mpi-speed.sh
#
# Needs Open MPI (see .ci/run). Pass nothing else that loads the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
MPIRUN_ARGS=${MPIRUN_ARGS:-}
cargo build --release --manifest-path mpi/Cargo.toml --target-dir target --example w1_speed >&2
B=target/release/examples/w1_speed
export NNC_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp)
echo "load before: $(uptime)"
for rep in $(seq "$REPS"); do
  for batch in 256 1024; do
    $B --batch "$batch" | tee -a "$out"
    # shellcheck disable=SC2086
    mpirun -np 2 $MPIRUN_ARGS $B --batch "$batch" --mpi | tee -a "$out"
  done
done
# shellcheck disable=SC2086
mpirun -np 2 $MPIRUN_ARGS $B --comm-only 1000
for batch in 16 128 512; do
  $B --batch "$batch" --epochs 1 | tee -a "$out"
done
echo "load after: $(uptime)"
# Medians per (ranks, batch): step time, communication time; then the ratios:
# of the medians, of the fastest runs, and the median of the ratios of each
# 2-rank run to the 1-process run just before it (the least drift between them).
awk '
  { key = $2 " " $4; step[key] = step[key] " " $8; ar[key] = ar[key] " " $10 }
  function least(list,   a, n, i, m) {
    n = split(list, a, " "); m = a[1]
    for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]
    return m
  }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (b = 16; b <= 1024; b *= 2) {
      one = "1 " b; two = "2 " b
      if (!(one in step)) continue
      printf "batch %4d: 1 process %.3f ms/step", b, median(step[one])
      if (two in step) {
        printf ", 2 ranks %.3f ms/step (communication %.3f ms, %.0f%% of a step): speed-up %.2fx",
          median(step[two]), median(ar[two]), 100 * median(ar[two]) / median(step[two]),
          median(step[one]) / median(step[two])
        printf "; fastest runs: %.3f and %.3f ms/step, %.2fx", least(step[one]), least(step[two]),
          least(step[one]) / least(step[two])
        # Each 2-rank run against the 1-process run just before it.
        n1 = split(step[one], s1, " "); n2 = split(step[two], s2, " "); pairs = ""
        for (i = 1; i <= n1 && i <= n2; i++) pairs = pairs " " sprintf("%.2f", s1[i] / s2[i])
        printf "; paired runs: median %.2fx (%s )", median(pairs), pairs
      }
      printf "\n"
    }
  }' "$out"
rm -f "$out"
