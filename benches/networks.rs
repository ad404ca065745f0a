//! Whole networks through generated code (`nnc::network!`), beside the same
//! networks assembled by hand at run time from the same kernels
//! ([`nnc::sequential::Sequential`], the baseline generated code must match
//! or beat). Throughput is reported in samples per second.
//!
//! - W1: 784 → 128 relu → 64 relu → 10 softmax (fused softmax
//!   cross-entropy), Adam lr 1e-3, one `Trainer::train_batch` per iteration,
//!   batch 64 and 256.
//! - W2: 784 → 64 relu → 32 relu → 32 relu → 10 softmax, RMSprop, batch 64.
//! - W3: 2 → 3 sigmoid → 2 softmax: `predict_one`, and an SGD step at batch 4.
//! - W4: inference through W1's network at batch 1 (`predict_one`,
//!   `predict`) and batch 1024.
//!
//! `cargo bench -p nnc-benches --bench networks` (see BENCHMARKS.md).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nnc::ndarray::{Array2, ArrayD, IxDyn};
use nnc::sequential::Sequential;
use nnc::train::{TrainConfig, Trainer};
use nnc::{Activation, Loss, Model, Optimizer, Rng};
use std::hint::black_box;
use std::time::Duration;

nnc::network! {
    /// W1 (training) and W4 (inference).
    network W1(x: [784]) -> [10] {
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }

    /// W2: the Keras tutorial model.
    network W2(x: [784]) -> [10] {
        dense(64) relu
        dense(32) relu
        dense(32) relu
        dense(10) softmax
    }

    /// W3: the textbook tiny network.
    network W3(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) softmax
    }
}

fn seq(input: usize, layers: &[(usize, Activation)]) -> Sequential {
    let mut b = Sequential::builder(&[input]);
    for &(units, act) in layers {
        b = b.dense(units, act);
    }
    b.build(0).unwrap()
}

fn seq_w1() -> Sequential {
    seq(
        784,
        &[
            (128, Activation::Relu),
            (64, Activation::Relu),
            (10, Activation::Softmax),
        ],
    )
}

fn seq_w2() -> Sequential {
    seq(
        784,
        &[
            (64, Activation::Relu),
            (32, Activation::Relu),
            (32, Activation::Relu),
            (10, Activation::Softmax),
        ],
    )
}

fn seq_w3() -> Sequential {
    seq(2, &[(3, Activation::Sigmoid), (2, Activation::Softmax)])
}

/// A batch of `n` inputs in [0, 1) and integer labels in `0..classes`.
fn batch(n: usize, width: usize, classes: usize, seed: u64) -> (ArrayD<f32>, ArrayD<f32>) {
    let mut r = Rng::seed_from(seed);
    let x = ArrayD::from_shape_fn(IxDyn(&[n, width]), |_| r.uniform(0.0, 1.0));
    let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (i[0] % classes) as f32);
    (x, y)
}

fn config(optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer,
        verbose: nnc::train::Verbosity::Silent,
        ..TrainConfig::default()
    }
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    g
}

/// One `train_batch` per iteration for the generated and the hand-assembled model.
#[allow(clippy::too_many_arguments)]
fn train_pair<'m>(
    c: &mut Criterion,
    name: &str,
    generated: &'m mut dyn Model,
    baseline: &'m mut dyn Model,
    opt: Optimizer,
    n: usize,
    width: usize,
    classes: usize,
) {
    let (x, y) = batch(n, width, classes, 7);
    let cfg = config(opt);
    let mut g = group(c, name);
    g.throughput(Throughput::Elements(n as u64));
    for (label, model) in [("generated", generated), ("sequential", baseline)] {
        let mut trainer = Trainer::new(&cfg);
        g.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter(|| {
                trainer
                    .train_batch(model, black_box(x.view()), y.view())
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn w1(c: &mut Criterion) {
    for n in [64, 256] {
        train_pair(
            c,
            "W1 train adam",
            &mut W1::new(0),
            &mut seq_w1(),
            Optimizer::adam(1e-3),
            n,
            784,
            10,
        );
    }
}

fn w2(c: &mut Criterion) {
    train_pair(
        c,
        "W2 train rmsprop",
        &mut W2::new(0),
        &mut seq_w2(),
        Optimizer::rmsprop(1e-3),
        64,
        784,
        10,
    );
}

fn w3(c: &mut Criterion) {
    let net = W3::new(0);
    let mut base = seq_w3();
    let x1 = [0.3f32, -0.7];
    let xb = Array2::from_shape_vec((1, 2), x1.to_vec())
        .unwrap()
        .into_dyn();
    let mut g = group(c, "W3 predict_one");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generated predict_one", |b| {
        b.iter(|| net.predict_one(black_box(&x1)))
    });
    g.bench_function("sequential forward batch 1", |b| {
        b.iter(|| base.forward(black_box(xb.view()), false).unwrap()[[0, 0]])
    });
    g.finish();
    train_pair(
        c,
        "W3 train sgd",
        &mut W3::new(0),
        &mut seq_w3(),
        Optimizer::sgd(0.1),
        4,
        2,
        2,
    );
}

fn w4(c: &mut Criterion) {
    let mut net = W1::new(0);
    let mut base = seq_w1();
    let mut r = Rng::seed_from(3);
    let one: [f32; 784] = std::array::from_fn(|_| r.uniform(0.0, 1.0));
    let mut g = group(c, "W4 infer batch 1");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generated predict_one", |b| {
        b.iter(|| net.predict_one(black_box(&one)))
    });
    let x1 = Array2::from_shape_vec((1, 784), one.to_vec()).unwrap();
    g.bench_function("generated predict", |b| {
        b.iter(|| net.predict(black_box(x1.view())).unwrap()[[0, 0]])
    });
    let x1d = x1.clone().into_dyn();
    g.bench_function("sequential forward", |b| {
        b.iter(|| base.forward(black_box(x1d.view()), false).unwrap()[[0, 0]])
    });
    g.finish();

    let (xb, _) = batch(1024, 784, 10, 5);
    let xb2: Array2<f32> = xb.clone().into_dimensionality().unwrap();
    let mut g = group(c, "W4 infer batch 1024");
    g.throughput(Throughput::Elements(1024));
    g.bench_function("generated predict", |b| {
        b.iter(|| net.predict(black_box(xb2.view())).unwrap()[[0, 0]])
    });
    g.bench_function("sequential forward", |b| {
        b.iter(|| base.forward(black_box(xb.view()), false).unwrap()[[0, 0]])
    });
    g.finish();
}

criterion_group!(benches, w1, w2, w3, w4);
criterion_main!(benches);
