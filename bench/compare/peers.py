"""The Python peers of the comparison, on the CPU: PyTorch eager (NCHW and,
for the CNN, channels-last), JAX with the whole train step under `jax.jit`
and JAX with a whole epoch in one `lax.scan` (the fastest way a JAX user
trains), plus the sgemm ceiling (W5) through numpy (OpenBLAS) and torch.mm.

Workloads: W1-W4 are MLPs (see BENCHMARKS.md); W6 is one training step of
the convolution tutorial's CNN (Conv2D 32 4x4 relu, MaxPool 3, Conv2D 64
4x4 relu, MaxPool 3, Flatten, Dense 64 relu, Dense 10; Adam; sparse
cross-entropy from logits) at batch 64 and 256; W7 is that CNN on one image.

    python peers.py {torch|jax|numpy} THREADS [--reps N] [--secs S] [--only W1,W4] [--serve]

Thread counts must be fixed before the libraries load, so run.sh starts one
process per (system, threads) under `taskset` with OMP/OpenBLAS/XLA settings
in the environment as well. Prints one JSON object per line, the same
format as the nnc runner. With `--serve`, as the nnc runner's: each
workload announces itself (`{"ready": "jax-scan 0.x|W1_b64", "samples": N}`)
and times one repetition per `go` line on stdin until another line, for
`paired.py`.
"""
import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("system", choices=["torch", "jax", "numpy"])
p.add_argument("threads", type=int)
p.add_argument("--reps", type=int, default=7)
p.add_argument("--secs", type=float, default=0.3)
p.add_argument("--only", default="")
p.add_argument("--serve", action="store_true")
args = p.parse_args()
ONLY = [w for w in args.only.split(",") if w]


def want(w):
    return not ONLY or any(w.startswith(o) for o in ONLY)


def measure(f):
    """Warm-up and calibration, then `reps` repetitions of ~`secs` each;
    seconds per iteration for each repetition. With `--serve`, a function
    of the name and samples that `emit` calls to serve `go` lines."""
    if args.serve:
        return lambda name, samples: serve(f, name, samples)
    n = calibrate(f)
    return [repetition(f, n) for _ in range(args.reps)]


def repetition(f, n):
    """Seconds per call of `f` over `n` calls."""
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


def serve(f, name, samples):
    print(json.dumps({"ready": name, "samples": samples}), flush=True)
    out, n = [], 0
    for line in sys.stdin:
        if line.strip() != "go":
            break
        n = n or calibrate(f)
        out.append(repetition(f, n))
        print(json.dumps({"t": out[-1]}), flush=True)
    return out


def calibrate(f):
    """Warm-up; how many calls of `f` take about `secs`."""
    t0 = time.perf_counter()
    iters = 0
    while time.perf_counter() - t0 < max(args.secs, 0.1) or iters < 3:
        f()
        iters += 1
    per = (time.perf_counter() - t0) / iters
    return max(1, int(args.secs / per))


def emit(system, workload, samples, unit, per_iter):
    if callable(per_iter):
        per_iter = per_iter(f"{system}|{workload}", samples)
    print(json.dumps({"system": system, "workload": workload, "unit": unit,
                      "samples": samples, "per_iter": per_iter}), flush=True)


W1 = [784, 128, 64, 10]
# Samples per epoch of the scan form (N(0,1) inputs, batches sliced in order).
EPOCH_MLP = 20000
EPOCH_CNN = 1024
W2 = [784, 64, 32, 32, 10]
W3 = [2, 3, 2]


def data(n, width, classes, seed=7):
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.random((n, width), dtype=np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    return x, y


# --------------------------------------------------------------- torch
def run_torch():
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    nn = torch.nn
    sysname = f"torch {torch.__version__}"

    def mlp(sizes, hidden):
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(hidden())
        return nn.Sequential(*layers)

    def train(name, sizes, hidden, opt, n, lr):
        torch.manual_seed(0)
        model = mlp(sizes, hidden)
        o = opt(model.parameters(), lr=lr)
        x, y = data(n, sizes[0], sizes[-1])
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        lossf = nn.CrossEntropyLoss()  # softmax cross-entropy from logits

        def step():
            o.zero_grad(set_to_none=True)
            loss = lossf(model(x), y)
            loss.backward()
            o.step()
        emit(sysname, name, n, "step", measure(step))

    rms = lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=0.9, eps=1e-7)
    adam = lambda ps, lr: torch.optim.Adam(ps, lr=lr, eps=1e-7)
    if want("W1"):
        for n in (64, 256):
            train(f"W1_b{n}", W1, nn.ReLU, adam, n, 1e-3)
    if want("W2"):
        train("W2_b64", W2, nn.ReLU, rms, 64, 1e-3)
    if want("W3"):
        m = mlp(W3, nn.Sigmoid)
        x1 = torch.tensor([[0.3, -0.7]])
        with torch.inference_mode():
            emit(sysname, "W3_predict1", 1, "call", measure(lambda: torch.softmax(m(x1), -1)))
        train("W3_sgd_b4", W3, nn.Sigmoid, torch.optim.SGD, 4, 0.1)
    if want("W4"):
        m = mlp(W1, nn.ReLU)
        for n in (1, 1024):
            x = torch.from_numpy(data(n, 784, 10)[0])
            with torch.inference_mode():
                emit(sysname, f"W4_b{n}", n, "call", measure(lambda: torch.softmax(m(x), -1)))
    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 32, 4), nn.ReLU(), nn.MaxPool2d(3),
            nn.Conv2d(32, 64, 4), nn.ReLU(), nn.MaxPool2d(3),
            nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

    if want("W6") or want("W7"):
        import numpy as np
        rng = np.random.default_rng(7)
        for fmt, sysn in ((torch.contiguous_format, sysname),
                          (torch.channels_last, sysname.replace("torch", "torch-cl"))):
            if want("W6"):
                for n in (64, 256):
                    torch.manual_seed(0)
                    model = cnn().to(memory_format=fmt)
                    o = adam(model.parameters(), 1e-3)
                    x = torch.from_numpy(rng.standard_normal((n, 1, 28, 28), dtype=np.float32))
                    x = x.contiguous(memory_format=fmt)
                    y = torch.from_numpy((np.arange(n) % 10).astype(np.int64))
                    lossf = nn.CrossEntropyLoss()

                    def step():
                        o.zero_grad(set_to_none=True)
                        lossf(model(x), y).backward()
                        o.step()
                    emit(sysn, f"W6_b{n}", n, "step", measure(step))
            if want("W7"):
                model = cnn().to(memory_format=fmt).eval()
                x1 = torch.from_numpy(rng.standard_normal((1, 1, 28, 28), dtype=np.float32))
                x1 = x1.contiguous(memory_format=fmt)
                with torch.inference_mode():
                    emit(sysn, "W7_predict1", 1, "call",
                         measure(lambda: torch.softmax(model(x1), -1)))
    if want("W5"):
        for (mm, k, nn_) in ((64, 784, 128), (256, 784, 128), (1024, 1024, 1024)):
            a, b = torch.rand(mm, k), torch.rand(k, nn_)
            c = torch.empty(mm, nn_)
            emit(sysname + " mm", f"W5_gemm_{mm}x{k}x{nn_}", 2 * mm * k * nn_, "flop",
                 measure(lambda: torch.mm(a, b, out=c)))


# --------------------------------------------------------------- jax
def run_jax():
    import jax
    import jax.numpy as jnp
    sysname = f"jax {jax.__version__}"

    def init(sizes, seed=0):
        key = jax.random.PRNGKey(seed)
        ps = []
        for i in range(len(sizes) - 1):
            key, k = jax.random.split(key)
            lim = (6.0 / (sizes[i] + sizes[i + 1])) ** 0.5
            ps.append((jax.random.uniform(k, (sizes[i], sizes[i + 1]), jnp.float32, -lim, lim),
                       jnp.zeros((sizes[i + 1],), jnp.float32)))
        return ps

    def forward(ps, x, hidden):
        for w, b in ps[:-1]:
            x = hidden(x @ w + b)
        w, b = ps[-1]
        return x @ w + b  # logits

    def xent(logits, y):
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    tm = jax.tree_util.tree_map

    def make_update(opt, loss_fn, lr):
        """One optimizer step (not jitted: `jit` or `scan` wraps it)."""
        def step(ps, st, x, y):
            g = jax.grad(loss_fn)(ps, x, y)
            if opt == "adam":
                m, v, t = st
                t = t + 1
                m = tm(lambda m, g: 0.9 * m + 0.1 * g, m, g)
                v = tm(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
                a = lr * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
                ps = tm(lambda p, m, v: p - a * m / (jnp.sqrt(v) + 1e-7), ps, m, v)
                return ps, (m, v, t)
            if opt == "rmsprop":
                v = tm(lambda v, g: 0.9 * v + 0.1 * g * g, st, g)
                ps = tm(lambda p, g, v: p - lr * g / (jnp.sqrt(v) + 1e-7), ps, g, v)
                return ps, v
            return tm(lambda p, g: p - lr * g, ps, g), st
        return step

    def opt_state(opt, ps):
        zeros = tm(jnp.zeros_like, ps)
        return {"adam": (zeros, tm(jnp.zeros_like, ps), jnp.float32(0)),
                "rmsprop": zeros, "sgd": ()}[opt]

    def train(name, ps, loss_fn, opt, n, lr, shape, scan_epoch=0, classes=10):
        """Times the jitted step on one batch; with `scan_epoch`, also a
        whole epoch of that many samples (N(0,1), batches sliced in order)
        as one jitted `lax.scan`."""
        import numpy as np
        update = make_update(opt, loss_fn, lr)
        step = jax.jit(update, donate_argnums=(0, 1))
        rng = np.random.default_rng(7)
        x = jax.device_put(rng.standard_normal((n, *shape), dtype=np.float32))
        y = jax.device_put((np.arange(n) % classes).astype(np.int32))
        box = [ps, opt_state(opt, ps)]

        def one():
            box[0], box[1] = step(box[0], box[1], x, y)
            jax.block_until_ready(box[0])
        emit(sysname + " jit", name, n, "step", measure(one))
        if not scan_epoch:
            return
        nb = scan_epoch // n
        xs = jax.device_put(rng.standard_normal((nb, n, *shape), dtype=np.float32))
        ys = jax.device_put((np.arange(nb * n) % classes).astype(np.int32).reshape(nb, n))

        def epoch(ps, st, xs, ys):
            def body(carry, batch):
                return update(*carry, *batch), None
            return jax.lax.scan(body, (ps, st), (xs, ys))[0]
        epoch = jax.jit(epoch, donate_argnums=(0, 1))
        sbox = list(box)

        def whole():
            sbox[0], sbox[1] = epoch(sbox[0], sbox[1], xs, ys)
            jax.block_until_ready(sbox[0])
        emit(scanname, name, nb * n, "epoch", measure(whole))

    scanname = f"jax-scan {jax.__version__}"

    def mlp_loss(hidden):
        return lambda ps, x, y: xent(forward(ps, x, hidden), y)

    # The tutorial CNN, channels-last as XLA prefers on the CPU.
    def cnn_init(seed=0):
        key = jax.random.PRNGKey(seed)
        shapes = [((4, 4, 1, 32), 32), ((4, 4, 32, 64), 64), ((64, 64), 64), ((64, 10), 10)]
        ps = []
        for shape, out in shapes:
            key, k = jax.random.split(key)
            fan_in = int(np.prod(shape[:-1]))
            fan_out = shape[-1] * (int(np.prod(shape[:-2])) if len(shape) == 4 else 1)
            lim = (6.0 / (fan_in + fan_out)) ** 0.5
            ps.append((jax.random.uniform(k, shape, jnp.float32, -lim, lim),
                       jnp.zeros((out,), jnp.float32)))
        return ps

    def cnn_forward(ps, x):
        dn = ("NHWC", "HWIO", "NHWC")
        pool = lambda h: jax.lax.reduce_window(h, -jnp.inf, jax.lax.max,
                                               (1, 3, 3, 1), (1, 3, 3, 1), "VALID")
        (w1, b1), (w2, b2), (w3, b3), (w4, b4) = ps
        h = pool(jax.nn.relu(jax.lax.conv_general_dilated(x, w1, (1, 1), "VALID",
                                                          dimension_numbers=dn) + b1))
        h = pool(jax.nn.relu(jax.lax.conv_general_dilated(h, w2, (1, 1), "VALID",
                                                          dimension_numbers=dn) + b2))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ w3 + b3)
        return h @ w4 + b4

    import numpy as np
    if want("W1"):
        for n in (64, 256):
            train(f"W1_b{n}", init(W1), mlp_loss(jax.nn.relu), "adam", n, 1e-3, (784,),
                  scan_epoch=EPOCH_MLP)
    if want("W2"):
        train("W2_b64", init(W2), mlp_loss(jax.nn.relu), "rmsprop", 64, 1e-3, (784,),
              scan_epoch=EPOCH_MLP)
    if want("W6"):
        for n in (64, 256):
            train(f"W6_b{n}", cnn_init(), lambda ps, x, y: xent(cnn_forward(ps, x), y),
                  "adam", n, 1e-3, (28, 28, 1), scan_epoch=EPOCH_CNN)
    if want("W7"):
        ps = cnn_init()
        f = jax.jit(lambda ps, x: jax.nn.softmax(cnn_forward(ps, x)))
        x1 = jax.device_put(np.random.default_rng(7).standard_normal((1, 28, 28, 1), dtype=np.float32))
        emit(sysname + " jit", "W7_predict1", 1, "call",
             measure(lambda: jax.block_until_ready(f(ps, x1))))
    if want("W3"):
        ps = init(W3)
        f = jax.jit(lambda ps, x: jax.nn.softmax(forward(ps, x, jax.nn.sigmoid)))
        x1 = jnp.array([[0.3, -0.7]], jnp.float32)
        emit(sysname + " jit", "W3_predict1", 1, "call",
             measure(lambda: jax.block_until_ready(f(ps, x1))))
        train("W3_sgd_b4", ps, mlp_loss(jax.nn.sigmoid), "sgd", 4, 0.1, (2,), classes=2)
    if want("W4"):
        ps = init(W1)
        f = jax.jit(lambda ps, x: jax.nn.softmax(forward(ps, x, jax.nn.relu)))
        for n in (1, 1024):
            x = jax.device_put(data(n, 784, 10)[0])
            emit(sysname + " jit", f"W4_b{n}", n, "call",
                 measure(lambda: jax.block_until_ready(f(ps, x))))


# --------------------------------------------------------------- numpy
def run_numpy():
    import numpy as np
    sysname = f"numpy {np.__version__}"
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        sysname += f" ({cfg.get('name')} {cfg.get('version')})"
    except Exception:
        pass
    rng = np.random.default_rng(0)
    for (m, k, n) in ((64, 784, 128), (256, 784, 128), (1024, 1024, 1024)):
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        emit(sysname, f"W5_gemm_{m}x{k}x{n}", 2 * m * k * n, "flop",
             measure(lambda: np.matmul(a, b, out=c)))


{"torch": run_torch, "jax": run_jax, "numpy": run_numpy}[args.system]()
