"""Paired rounds: nnc against one peer on one workload, the two processes
kept alive and timed in turn, one repetition each per round (the order
alternating round by round), so that a slow second of a shared machine
falls on both systems of a round. Prints each round's ratio and the
median with its quartiles: on a host whose speed drifts by tens of percent
within a minute, the ratio of two medians taken minutes apart (run.sh)
moves by as much as the differences being measured.

    python3 paired.py W1_b64 [--peer jax-scan] [--threads 1] [--rounds 30] [--secs 0.3]

`--peer` is a system family of peers.py (`jax-scan`, `jax`, `torch`,
`numpy` for W5), or `nnc-other` with `--other PATH`, a runner built from
another tree (an A/B of two builds of nnc); the runner is $CARGO_TARGET_DIR/compare/release/nnc-compare-runner (run.sh
builds it), or `--runner PATH`; Python is $VENV (as run.sh) or `--python`.
Ratios are throughput ratios (above 1: nnc is faster).

The fraction of the sgemm ceiling a training step reaches, in paired
rounds: `paired.py W1_b256 --peer numpy --peer-workload W5_gemm_256x784x128
--flops 454400` (W5's "samples" are FLOPs; `--flops` is the workload's
FLOPs per sample, so the ratio is GFLOP/s over GFLOP/s).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("workload")
p.add_argument("--peer", default="jax-scan")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--rounds", type=int, default=30)
p.add_argument("--secs", type=float, default=0.3)
p.add_argument("--runner", default=os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "target")),
    "compare", "release", "nnc-compare-runner"))
p.add_argument("--peer-workload", help="the peer's workload, if not the same (W5 for a ceiling)")
p.add_argument("--flops", type=float, default=1.0,
               help="FLOPs per sample of nnc's workload when the peer's samples are FLOPs")
p.add_argument("--other", help="the runner of another build, for --peer nnc-other")
p.add_argument("--python", default=os.path.join(
    os.environ.get("VENV", os.path.expanduser("~/.cache/nnc-bench/venv")), "bin", "python"))
args = p.parse_args()

t = args.threads
env = dict(os.environ, NNC_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t),
           OPENBLAS_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
# As run.sh: with one thread, keep XLA's Eigen matmuls on the calling thread.
if t == 1:
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
else:
    env.pop("XLA_FLAGS", None)
cpus = ["taskset", "-c", f"0-{t - 1}"]
peer_workload = args.peer_workload or args.workload
peer_system = args.peer.split("-")[0]


def start(cmd, family, workload, extra_env=None):
    common = ["--only", workload.split("_")[0], "--serve", "--secs", str(args.secs)]
    proc = subprocess.Popen(cpus + cmd + common, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(env, **(extra_env or {})),
                            bufsize=1)
    # Skip every other workload the process announces until ours.
    for line in proc.stdout:
        msg = json.loads(line)
        if "ready" not in msg:
            continue
        system, offered = msg["ready"].split("|")
        if offered == workload and system.split()[0] == family:
            return proc, msg["samples"]
        proc.stdin.write("next\n")
    sys.exit(f"{' '.join(cmd)} never offered {family} {workload}")


def once(proc):
    proc.stdin.write("go\n")
    for line in proc.stdout:
        msg = json.loads(line)
        if "t" in msg:
            return msg["t"]
    sys.exit("a process ended in the middle of a round")


nnc, nnc_samples = start([args.runner], "nnc", args.workload)
nnc_samples *= args.flops
if args.peer == "nnc-other":
    if not args.other:
        sys.exit("--peer nnc-other needs --other PATH (a runner of another build)")
    peer, peer_samples = start([args.other], args.peer, peer_workload, {"NNC_SYSTEM": "nnc-other"})
else:
    peer, peer_samples = start([args.python, os.path.join(here, "peers.py"), peer_system, str(t)],
                               args.peer, peer_workload)
ratios, times = [], {"nnc": [], args.peer: []}
for r in range(args.rounds):
    order = [(nnc, "nnc", nnc_samples), (peer, args.peer, peer_samples)]
    per_sample = {}
    for proc, name, samples in order if r % 2 == 0 else order[::-1]:
        per_sample[name] = once(proc) / samples
        times[name].append(per_sample[name])
    ratios.append(per_sample[args.peer] / per_sample["nnc"])
    print(f"round {r + 1:3d}: nnc {per_sample['nnc'] * 1e6:8.4g} us/sample, "
          f"{args.peer} {per_sample[args.peer] * 1e6:8.4g} us/sample, ratio {ratios[-1]:.3f}",
          flush=True)
for proc in (nnc, peer):
    proc.stdin.close()
    proc.terminate()
    proc.wait()

q = statistics.quantiles(ratios, n=4)
unit, scale = ("GFLOP/s", lambda v: 1e-9 / v) if args.flops != 1 else ("us/sample", lambda v: v * 1e6)
print(f"{args.workload}, {t} thread(s), {args.rounds} rounds of {args.secs} s: nnc x {args.peer} "
      f"{'' if peer_workload == args.workload else peer_workload + ' '}"
      f"median {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}, "
      f"{sum(x >= 1.2 for x in ratios)}/{len(ratios)} rounds >= 1.2); "
      f"median {unit}: nnc {scale(statistics.median(times['nnc'])):.4g}, "
      f"{args.peer} {scale(statistics.median(times[args.peer])):.4g}")
