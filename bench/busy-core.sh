#!/usr/bin/env bash
# One thread against the default (the helper thread of runtime/src/pool.rs),
# on an idle machine and with one core kept busy by another process.
#
#   bench/busy-core.sh [ROUNDS]          # default 3 rounds, interleaved
#
# Runs the MNIST example (training seconds, as it prints them) and the W1
# training step of benches/networks.rs (criterion's middle estimate, batch
# 64 and 256), each with NNC_NUM_THREADS=1 and without it, first with
# nothing else running, then with `taskset -c BUSY_CPU sh -c 'while :; do
# :; done'` spinning on one core (BUSY_CPU, default 1) while nnc may use all
# cores. Needs at least two CPUs and taskset (util-linux).
#
# To compare builds, set MNIST and NETWORKS to prebuilt binaries (the
# example and the `networks` bench executable); otherwise both are built
# here in release mode. On a machine shared with other work, PRIORITY=1
# runs each measurement in its own session with autogroup nice -20 (needs
# root), which approximates an idle machine for the "idle" rows; the busy
# loop gets the same priority.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
busy_cpu=${BUSY_CPU:-1}
if [[ -z "${MNIST:-}" ]]; then
    cargo build --release --example mnist >&2
    MNIST=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/mnist
fi
if [[ -z "${NETWORKS:-}" ]]; then
    NETWORKS=$(cargo bench -p nnc-benches --bench networks --no-run 2>&1 |
        sed -n 's/.*Executable \(benches\/\)\{0,1\}networks.rs (\(.*\))/\2/p')
fi
out=$(mktemp -d)
busy_pid=
stop_busy() {
    if [[ -n "$busy_pid" ]]; then
        kill "$busy_pid" 2>/dev/null || true
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=
    fi
}
trap 'stop_busy; rm -rf "$out"' EXIT

# Runs "$@" (an env command line), at high priority if PRIORITY is set.
run() {
    if [[ -n "${PRIORITY:-}" ]]; then
        setsid -w sh -c 'echo -20 > /proc/self/autogroup && exec "$@"' sh "$@"
    else
        "$@"
    fi
}

# Training seconds of one MNIST run (the example prints "..., 10 epochs, 3.5 s)").
mnist() {
    run env "$@" "$MNIST" --out "$out" 2>&1 | sed -n 's/.* \([0-9.]*\) s)$/\1/p'
}

# Criterion's middle estimates for W1 batch 64 and 256, in µs.
w1() {
    run env "$@" "$NETWORKS" --bench 'W1 train adam/generated' --warm-up-time 1 \
        --measurement-time 3 --noplot --discard-baseline 2>&1 |
        awk '/time:/ && !/%/ { sub(/.*time: *\[/, ""); v = $3; if ($4 == "ms") v *= 1000;
                       printf "%.1f  ", v }'
}

printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-5s %-7s %-12s %s\n' round load threads 'mnist s' 'W1 step µs (batch 64, 256)'
for round in $(seq "$rounds"); do
    for load in idle busy; do
        if [[ $load == busy ]]; then
            run taskset -c "$busy_cpu" sh -c 'echo $$ > "$0"; while :; do :; done' "$out/busy" &
            sleep 0.5
            busy_pid=$(cat "$out/busy")
        fi
        for threads in 1 default; do
            if [[ $threads == 1 ]]; then set -- NNC_NUM_THREADS=1; else set -- -u NNC_NUM_THREADS; fi
            printf '%-5s %-5s %-7s %-12s %s\n' "$round" "$load" "$threads" "$(mnist "$@")" "$(w1 "$@")"
        done
        stop_busy
    done
done
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
