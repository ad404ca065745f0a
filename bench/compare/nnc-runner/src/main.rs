//! Runs W1-W7 through nnc-generated code and prints one JSON object per
//! line: `{"system", "workload", "unit", "per_iter": [seconds per iteration,
//! one per repetition], "samples": samples per iteration}`.
//!
//! `nnc-compare-runner [--reps N] [--secs S] [--only W1,W4,...] [--serve]`
//!
//! With `--serve`, each workload announces itself (`{"ready": "nnc|W1_b64",
//! "samples": 64}`) and then times one repetition per `go` line on stdin
//! (`{"t": seconds per iteration}`) until any other line: `paired.py`
//! alternates it with a peer's process round by round.

use nnc::ndarray::{Array2, ArrayD, IxDyn};
use nnc::train::{TrainConfig, Trainer};
use nnc::{Loss, Optimizer, Rng};
use std::hint::black_box;
use std::time::Instant;

nnc::network! {
    network W1(x: [784]) -> [10] {
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }
    network W2(x: [784]) -> [10] {
        dense(64) relu
        dense(32) relu
        dense(32) relu
        dense(10) softmax
    }
    network W3(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) softmax
    }
    /// The convolution tutorial's CNN, trained from logits (W6).
    network W6(image: [28, 28, 1]) -> [10] {
        conv2d(32, 4) relu
        max_pool2d(3)
        conv2d(64, 4) relu
        max_pool2d(3)
        flatten
        dense(64) relu
        dense(10)
    }
    /// The same CNN ending in softmax, as the peers' W7 calls it.
    network W7(image: [28, 28, 1]) -> [10] {
        conv2d(32, 4) relu
        max_pool2d(3)
        conv2d(64, 4) relu
        max_pool2d(3)
        flatten
        dense(64) relu
        dense(10) softmax
    }
}

struct Opts {
    reps: usize,
    secs: f64,
    only: Vec<String>,
    serve: bool,
}

/// Times `f` (workload `name`, `samples` per call): warm-up, then `reps`
/// repetitions of enough iterations to take about `secs` each; returns
/// seconds per iteration for each repetition. With `--serve`, one
/// repetition per `go` line on stdin instead (after warming up on the
/// first), until another line or the end of input.
fn measure(o: &Opts, name: &str, samples: f64, mut f: impl FnMut()) -> Vec<f64> {
    if o.serve {
        println!(
            "{{\"ready\": \"{}|{name}\", \"samples\": {samples}}}",
            system()
        );
        let mut out = Vec::new();
        let mut n = 0;
        for line in std::io::stdin().lines() {
            if !line.is_ok_and(|l| l.trim() == "go") {
                break;
            }
            if n == 0 {
                n = calibrate(o, &mut f);
            }
            let per = repetition(n, &mut f);
            println!("{{\"t\": {per:e}}}");
            out.push(per);
        }
        return out;
    }
    let n = calibrate(o, &mut f);
    (0..o.reps).map(|_| repetition(n, &mut f)).collect()
}

/// Seconds per call of `f` over `n` calls.
fn repetition(n: u64, f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / n as f64
}

/// The system name the rows carry (`NNC_SYSTEM`, e.g. `nnc-other` for
/// another build).
fn system() -> String {
    std::env::var("NNC_SYSTEM").unwrap_or_else(|_| "nnc".into())
}

/// Warm-up; returns how many calls of `f` take about `secs`.
fn calibrate(o: &Opts, f: &mut impl FnMut()) -> u64 {
    let t = Instant::now();
    let mut iters = 0u64;
    while t.elapsed().as_secs_f64() < o.secs.max(0.1) {
        f();
        iters += 1;
    }
    let per = t.elapsed().as_secs_f64() / iters as f64;
    ((o.secs / per) as u64).max(1)
}

fn emit(workload: &str, samples: f64, unit: &str, per_iter: &[f64]) {
    let system = system();
    let list: Vec<String> = per_iter.iter().map(|v| format!("{v:e}")).collect();
    println!(
        "{{\"system\": \"{system}\", \"workload\": \"{workload}\", \"unit\": \"{unit}\", \"samples\": {samples}, \"per_iter\": [{}]}}",
        list.join(", ")
    );
}

fn batch(n: usize, width: usize, classes: usize) -> (ArrayD<f32>, ArrayD<f32>) {
    let mut r = Rng::seed_from(7);
    let x = ArrayD::from_shape_fn(IxDyn(&[n, width]), |_| r.uniform(0.0, 1.0));
    let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (i[0] % classes) as f32);
    (x, y)
}

fn cfg(optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer,
        verbose: nnc::train::Verbosity::Silent,
        ..TrainConfig::default()
    }
}

fn train(
    o: &Opts,
    name: &str,
    model: &mut dyn nnc::Model,
    opt: Optimizer,
    n: usize,
    width: usize,
    classes: usize,
) {
    let (x, y) = batch(n, width, classes);
    let mut t = Trainer::new(&cfg(opt));
    let r = measure(o, name, n as f64, || {
        black_box(t.train_batch(model, black_box(x.view()), y.view()).unwrap());
    });
    emit(name, n as f64, "step", &r);
}

fn gemm_rate(o: &Opts, m: usize, k: usize, n: usize) {
    gemm_rate_as(o, m, k, n, false);
}

/// `c = a·b` at `m×k×n`; with `at`, `a` is a transposed view (`xᵀ` in the
/// weight gradient `dw = xᵀ·dz`), named `..aT`.
fn gemm_rate_as(o: &Opts, m: usize, k: usize, n: usize, at: bool) {
    let mut r = Rng::seed_from(1);
    let a = Array2::from_shape_fn((m, k), |_| r.uniform(-1.0, 1.0));
    let a_t = a.t().as_standard_layout().into_owned();
    let b = Array2::from_shape_fn((k, n), |_| r.uniform(-1.0, 1.0));
    let mut c = Array2::<f32>::zeros((m, n));
    let av = if at { a_t.t() } else { a.view() };
    let name = format!("W5_gemm_{m}x{k}x{n}{}", if at { "aT" } else { "" });
    // "samples" carries the FLOPs of one product here.
    let flops = (2 * m * k * n) as f64;
    let res = measure(o, &name, flops, || {
        nnc::kernels::gemm(1.0, black_box(av), b.view(), 0.0, c.view_mut())
    });
    emit(&name, flops, "flop", &res);
}

fn main() {
    let mut o = Opts {
        reps: 7,
        secs: 0.3,
        only: Vec::new(),
        serve: false,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--reps" => o.reps = args[i + 1].parse().unwrap(),
            "--secs" => o.secs = args[i + 1].parse().unwrap(),
            "--only" => o.only = args[i + 1].split(',').map(str::to_string).collect(),
            "--serve" => {
                o.serve = true;
                i += 1;
                continue;
            }
            a => panic!("unknown argument {a}"),
        }
        i += 2;
    }
    // `--only W1` selects a group; a workload name (`W1_b64`) selects its group.
    let want = |w: &str| {
        o.only.is_empty()
            || o.only
                .iter()
                .any(|p| w.starts_with(p.as_str()) || p.starts_with(w))
    };

    if want("W1") {
        for n in [64, 256] {
            train(
                &o,
                &format!("W1_b{n}"),
                &mut W1::new(0),
                Optimizer::adam(1e-3),
                n,
                784,
                10,
            );
        }
    }
    if want("W2") {
        train(
            &o,
            "W2_b64",
            &mut W2::new(0),
            Optimizer::rmsprop(1e-3),
            64,
            784,
            10,
        );
    }
    if want("W3") {
        let net = W3::new(0);
        let x = [0.3f32, -0.7];
        let r = measure(&o, "W3_predict1", 1.0, || {
            black_box(net.predict_one(black_box(&x)));
        });
        emit("W3_predict1", 1.0, "call", &r);
        train(
            &o,
            "W3_sgd_b4",
            &mut W3::new(0),
            Optimizer::sgd(0.1),
            4,
            2,
            2,
        );
    }
    if want("W4") {
        let mut net = W1::new(0);
        let mut r = Rng::seed_from(3);
        let one: [f32; 784] = std::array::from_fn(|_| r.uniform(0.0, 1.0));
        let res = measure(&o, "W4_b1", 1.0, || {
            black_box(net.predict_one(black_box(&one)));
        });
        emit("W4_b1", 1.0, "call", &res);
        let x1 = Array2::from_shape_vec((1, 784), one.to_vec()).unwrap();
        let res = measure(&o, "W4_b1_predict", 1.0, || {
            black_box(net.predict(black_box(x1.view())).unwrap()[[0, 0]]);
        });
        emit("W4_b1_predict", 1.0, "call", &res);
        let (xb, _) = batch(1024, 784, 10);
        let xb: Array2<f32> = xb.into_dimensionality().unwrap();
        let res = measure(&o, "W4_b1024", 1024.0, || {
            black_box(net.predict(black_box(xb.view())).unwrap()[[0, 0]]);
        });
        emit("W4_b1024", 1024.0, "call", &res);
    }
    if want("W6") {
        for n in [64, 256] {
            let mut r = Rng::seed_from(7);
            let x = ArrayD::from_shape_fn(IxDyn(&[n, 28, 28, 1]), |_| r.normal());
            let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (i[0] % 10) as f32);
            let mut t = Trainer::new(&TrainConfig {
                loss: Loss::SparseCategoricalCrossentropy { from_logits: true },
                ..cfg(Optimizer::adam(1e-3))
            });
            let mut net = W6::new(0);
            let res = measure(&o, &format!("W6_b{n}"), n as f64, || {
                black_box(
                    t.train_batch(&mut net, black_box(x.view()), y.view())
                        .unwrap(),
                );
            });
            emit(&format!("W6_b{n}"), n as f64, "step", &res);
        }
    }
    if want("W7") {
        let net = W7::new(0);
        let mut r = Rng::seed_from(7);
        let one: [[[f32; 1]; 28]; 28] =
            std::array::from_fn(|_| std::array::from_fn(|_| [r.normal()]));
        let res = measure(&o, "W7_predict1", 1.0, || {
            black_box(net.predict_one(black_box(&one)));
        });
        emit("W7_predict1", 1.0, "call", &res);
    }
    if want("W5") {
        for (m, k, n) in [
            (64, 784, 128),
            (256, 784, 128),
            (1024, 784, 128),
            (1024, 1024, 1024),
        ] {
            gemm_rate(&o, m, k, n);
        }
        // W1's weight gradient of its first layer at batch 256.
        gemm_rate_as(&o, 784, 256, 128, true);
    }
}
