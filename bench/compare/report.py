"""Summarises a run.sh result directory as Markdown tables: median and
spread per system, the ratio of nnc to each peer, the sgemm ceiling (W5) and
the fraction of it that W1's training step reaches.

    python3 report.py RESULT_DIR
"""
import glob
import json
import os
import statistics
import sys

d = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
    for line in open(f):
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))

FAMILY = ["nnc", "nnc-other", "jax", "jax-scan", "torch", "torch-cl", "candle"]


def family(system):
    return system.split()[0]


def stats(r):
    med = statistics.median(r["per_iter"])
    lo, hi = min(r["per_iter"]), max(r["per_iter"])
    return med, (hi - lo) / med


# W1 FLOPs per step: 2·B·Σ(in·out) forward, twice that backward, less the
# first layer's input gradient (2·B·784·128), which is never computed.
SIZES = [784, 128, 64, 10]
FWD = sum(a * b for a, b in zip(SIZES, SIZES[1:]))
W1_FLOP_PER_SAMPLE = 2 * (3 * FWD - SIZES[0] * SIZES[1])

# run.sh runs every system twice, interleaved: the rounds of one system,
# workload and thread count are pooled.
by = {}
for r in rows:
    cell = by.setdefault((r["workload"], r["threads"]), {})
    fam = family(r["system"])
    if fam in cell:
        cell[fam] = dict(cell[fam], per_iter=cell[fam]["per_iter"] + r["per_iter"])
    else:
        cell[fam] = r
threads = sorted({r["threads"] for r in rows})
workloads = [w for w in ["W1_b64", "W1_b256", "W2_b64", "W3_predict1", "W3_sgd_b4",
                         "W4_b1", "W4_b1_predict", "W4_b1024", "W6_b64", "W6_b256",
                         "W7_predict1"]
             if any((w, t) in by for t in threads)]

print(f"# Results in {d}\n")
if os.path.exists(os.path.join(d, "machine.txt")):
    print("```\n" + open(os.path.join(d, "machine.txt")).read().strip() + "\n```\n")
print("Median samples/s (time per iteration in brackets) over the repetitions; "
      "± is the spread (max-min)/median; `nnc ×` is nnc's throughput over the "
      "peer's (above 1: nnc is faster). `W4_b1` for nnc is `predict_one`, "
      "`W4_b1_predict` the batch API at batch 1.\n")
systems = [s for s in FAMILY if any(s in v for v in by.values())]
hdr = ("| workload | thr | " + " | ".join(systems) + " | "
       + " | ".join(f"nnc × {s}" for s in systems[1:]) + " | fastest peer | nnc × fastest |")
print(hdr)
print("|" + " --- |" * (2 + 2 * len(systems) - 1 + 2))


def fmt_t(s):
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.2f} ms"


for w in workloads:
    for t in threads:
        cell = by.get((w, t), {})
        if not cell:
            continue
        line = f"| {w} | {t} |"
        rate = {}
        for s in systems:
            key = s
            r = cell.get(key)
            if r is None and w == "W4_b1_predict":
                r = None
            if r is None:
                line += " – |"
                continue
            med, spread = stats(r)
            rate[s] = r["samples"] / med
            line += f" {rate[s]:.3g} ({fmt_t(med)}) ±{spread * 100:.0f}% |"
        nnc_rate = rate.get("nnc")
        if nnc_rate is None and w == "W4_b1_predict":
            nnc_rate = None
        for s in systems[1:]:
            peer = rate.get(s)
            if peer is None and w == "W4_b1_predict":
                peer = by.get(("W4_b1", t), {}).get(s)
                peer = peer and peer["samples"] / stats(peer)[0]
            line += f" {nnc_rate / peer:.2f} |" if nnc_rate and peer else " – |"
        peer_rates = {s: r for s, r in rate.items() if not s.startswith("nnc")}
        if nnc_rate and peer_rates:
            best = max(peer_rates, key=peer_rates.get)
            line += f" {best} | **{nnc_rate / peer_rates[best]:.2f}** |"
        else:
            line += " – | – |"
        print(line)

peers = [s for s in systems if not s.startswith("nnc")]
for variant in [s for s in systems if s.startswith("nnc-")]:
    print(f"\n`{variant}` over each peer (throughput ratio, above 1: faster):\n")
    print("| workload | thr | " + " | ".join(f"{variant} × {p}" for p in peers) + " |")
    print("|" + " --- |" * (2 + len(peers)))
    for w in workloads:
        for t in threads:
            cell = by.get((w, t), {})
            r = cell.get(variant)
            if r is None:
                continue
            mine = r["samples"] / stats(r)[0]
            line = f"| {w} | {t} |"
            for p in peers:
                pr = cell.get(p) or (by.get(("W4_b1", t), {}).get(p) if w == "W4_b1_predict" else None)
                line += f" {mine / (pr['samples'] / stats(pr)[0]):.2f} |" if pr else " – |"
            print(line)

print("\n## W5: sgemm GFLOP/s (median, ± spread)\n")
gemm_w = sorted({r["workload"] for r in rows if r["workload"].startswith("W5")},
                key=lambda w: int(w.split("_")[-1].split("x")[0]))
gsys = sorted({r["system"] for r in rows if r["workload"].startswith("W5")})
print("| shape m×k×n | thr | " + " | ".join(gsys) + " |")
print("|" + " --- |" * (2 + len(gsys)))
best = {}
for w in gemm_w:
    for t in threads:
        line = f"| {w[8:]} | {t} |"
        for s in gsys:
            r = next((r for r in rows if r["workload"] == w and r["system"] == s and r["threads"] == t), None)
            if r is None:
                line += " – |"
                continue
            med, spread = stats(r)
            g = r["samples"] / med / 1e9
            best[(w, t)] = max(best.get((w, t), 0), g)
            line += f" {g:.1f} ±{spread * 100:.0f}% |"
        print(line)

print(f"\n## W1 against the sgemm ceiling\n\nFLOPs per sample: {W1_FLOP_PER_SAMPLE} "
      f"(2·Σ(in·out) = {2 * FWD} forward, {2 * FWD} for the weight gradients, "
      f"{2 * (FWD - SIZES[0] * SIZES[1])} for the input gradients of layers 2-3).\n")
print("| workload | thr | system | GFLOP/s | best sgemm at the shape | fraction |")
print("| --- | --- | --- | --- | --- | --- |")
for w, shape in (("W1_b64", "W5_gemm_64x784x128"), ("W1_b256", "W5_gemm_256x784x128")):
    for t in threads:
        ceiling = best.get((shape, t))
        for s, r in sorted(by.get((w, t), {}).items()):
            med, _ = stats(r)
            g = r["samples"] * W1_FLOP_PER_SAMPLE / med / 1e9
            frac = f"{g / ceiling * 100:.0f}%" if ceiling else "–"
            print(f"| {w} | {t} | {s} | {g:.1f} | {ceiling and round(ceiling, 1)} | {frac} |")
