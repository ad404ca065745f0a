#!/usr/bin/env bash
# Interleaved A/B of nnc compare-runner binaries (e.g. one built from the
# commit before a change, one from after): ROUNDS rounds, each running every
# binary in turn on one workload group, so that the host's drift hits all of
# them alike. Prints the minimum and median time per iteration per binary.
#
#   bench/compare/ab.sh 6 W1 ../runner-before ../runner-after
#   THR=2 CPUS=0,1 bench/compare/ab.sh 6 W1 before after   # two threads
#
# Build a runner with `bench/compare/run.sh` (or cargo build --release
# --manifest-path bench/compare/nnc-runner/Cargo.toml) and copy it aside.
set -euo pipefail
rounds=$1 workload=$2
shift 2
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    NNC_NUM_THREADS=${THR:-1} taskset -c "${CPUS:-0}" "$bin" --only "$workload" --reps 3 --secs 0.2 |
      sed "s|^|$(basename "$bin") |"
  done
done | python3 -c '
import collections, json, sys
times = collections.defaultdict(list)
for line in sys.stdin:
    name, row = line.split(" ", 1)
    row = json.loads(row)
    times[(row["workload"], name)] += [t * 1e6 for t in row["per_iter"]]
for (w, name), t in sorted(times.items()):
    t.sort()
    print(f"{w:12s} {name:20s} min {t[0]:9.1f} us  median {t[len(t) // 2]:9.1f} us  (n={len(t)})")
'
