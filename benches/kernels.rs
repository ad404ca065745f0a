//! Kernel benchmarks: the gemm at MLP shapes (this crate's kernel against
//! ndarray's `general_mat_mul` and the `gemm` crate, single- and
//! multi-threaded), the fused dense kernels, softmax, each optimizer's
//! update, a whole training step of a hand-assembled MLP, and the layers of
//! the tutorial CNN (convolutions against the gemm at the same shapes;
//! `NNC_CONV=im2col` measures im2col + gemm where the runtime would run its
//! direct kernel; pooling with and without the argmax).
//!
//! `cargo bench -p nnc-benches --bench kernels` (numbers in `kernels::gemm`'s docs).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nnc_runtime::kernels::conv2d::{self, Conv2d, Conv2dGrads};
use nnc_runtime::kernels::pool2d::{self, Pool2d};
use nnc_runtime::kernels::window::Padding;
use nnc_runtime::kernels::{dense, gemm, softmax};
use nnc_runtime::ndarray::{linalg::general_mat_mul, Array1, Array2};
use nnc_runtime::optim::OptimizerState;
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{TrainConfig, Trainer};
use nnc_runtime::{Activation, Loss, Optimizer};
use std::hint::black_box;
use std::time::Duration;
use support::{gemm_crate, random};

mod support;

/// (label, m, k, n, transpose a, transpose b): forward products of a
/// 784-128-64-10 MLP at batch 64 and 256, and the backward ones (`dW = xᵀ·dz`, `dx = dz·Wᵀ`).
const SHAPES: [(&str, usize, usize, usize, bool, bool); 8] = [
    ("fwd 64x784x128", 64, 784, 128, false, false),
    ("fwd 256x784x128", 256, 784, 128, false, false),
    ("fwd 64x128x64", 64, 128, 64, false, false),
    ("fwd 256x64x10", 256, 64, 10, false, false),
    ("dW 784x64x128 (a^T)", 784, 64, 128, true, false),
    ("dW 784x256x128 (a^T)", 784, 256, 128, true, false),
    ("dx 64x128x784 (b^T)", 64, 128, 784, false, true),
    ("dx 256x10x64 (b^T)", 256, 10, 64, false, true),
];

fn bench_gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for (label, m, k, n, ta, tb) in SHAPES {
        // Stored so that `.t()` gives the [m, k] / [k, n] operand when transposed.
        let a = if ta { random(k, m, 1) } else { random(m, k, 1) };
        let b = if tb { random(n, k, 2) } else { random(k, n, 2) };
        let av = if ta { a.t() } else { a.view() };
        let bv = if tb { b.t() } else { b.view() };
        let mut out = Array2::<f32>::zeros((m, n));
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(BenchmarkId::new("nnc", label), |bch| {
            bch.iter(|| gemm(1.0, black_box(av), bv, 0.0, out.view_mut()))
        });
        g.bench_function(BenchmarkId::new("ndarray", label), |bch| {
            bch.iter(|| general_mat_mul(1.0, &black_box(av), &bv, 0.0, &mut out))
        });
        g.bench_function(BenchmarkId::new("gemm-crate-1t", label), |bch| {
            bch.iter(|| gemm_crate(black_box(av), bv, out.view_mut(), gemm::Parallelism::None))
        });
        g.bench_function(BenchmarkId::new("gemm-crate-rayon", label), |bch| {
            bch.iter(|| {
                gemm_crate(
                    black_box(av),
                    bv,
                    out.view_mut(),
                    gemm::Parallelism::Rayon(2),
                )
            })
        });
    }
    g.finish();
}

fn bench_fused(c: &mut Criterion) {
    let mut g = c.benchmark_group("fused");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    let (n, i, o) = (64, 784, 128);
    let x = random(n, i, 3);
    let w = random(i, o, 4);
    let b = Array1::<f32>::zeros(o);
    let mut y = Array2::<f32>::zeros((n, o));
    let mut pre = Array2::<f32>::zeros((n, o));
    g.bench_function("dense fwd 64x784x128 relu", |bch| {
        bch.iter(|| {
            let layer = dense::Dense {
                inputs: i,
                units: o,
                act: Activation::Relu,
            };
            layer.forward(dense::Forward {
                x: x.view(),
                w: w.view(),
                b: Some(b.view()),
                pre: None,
                y: y.view_mut(),
            })
        })
    });
    g.bench_function("dense fwd 64x784x128 gelu (keeps pre)", |bch| {
        bch.iter(|| {
            let layer = dense::Dense {
                inputs: i,
                units: o,
                act: Activation::Gelu,
            };
            layer.forward(dense::Forward {
                x: x.view(),
                w: w.view(),
                b: Some(b.view()),
                pre: Some(pre.view_mut()),
                y: y.view_mut(),
            })
        })
    });
    let mut dy = random(n, o, 5);
    let (mut dw, mut db, mut dx) = (
        Array2::zeros((i, o)),
        Array1::zeros(o),
        Array2::zeros((n, i)),
    );
    g.bench_function("dense bwd 64x784x128 relu (dW, db, dx)", |bch| {
        bch.iter(|| {
            let layer = dense::Dense {
                inputs: i,
                units: o,
                act: Activation::Relu,
            };
            layer.backward(
                dense::Backward {
                    x: x.view(),
                    w: w.view(),
                    y: y.view(),
                    pre: None,
                    dy: dy.view_mut(),
                    at_logits: false,
                },
                dense::Grads {
                    dw: Some(dw.view_mut()),
                    db: Some(db.view_mut()),
                    dx: Some(nnc_runtime::kernels::Grad::Write(dx.view_mut())),
                },
            )
        })
    });
    let logits = random(256, 10, 6);
    let mut p = Array2::<f32>::zeros((256, 10));
    g.bench_function("softmax 256x10", |bch| {
        bch.iter(|| softmax::forward(black_box(logits.view()), p.view_mut()))
    });
    g.finish();

    let mut g = c.benchmark_group("train_step");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for batch in [64, 256] {
        let mut model = Sequential::builder(&[784])
            .dense(128, Activation::Relu)
            .dense(64, Activation::Relu)
            .dense(10, Activation::Softmax)
            .build(0)
            .expect("valid network");
        let cfg = TrainConfig {
            loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
            optimizer: Optimizer::rmsprop(1e-3),
            verbose: nnc_runtime::train::Verbosity::Silent,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&cfg);
        let xb = random(batch, 784, 7).mapv(|v| v.abs()).into_dyn();
        let yb = Array1::from_shape_fn(batch, |k| (k % 10) as f32).into_dyn();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(
            BenchmarkId::new("mlp 784-128-64-10 rmsprop", batch),
            |bch| {
                bch.iter(|| {
                    trainer
                        .train_batch(&mut model, xb.view(), yb.view())
                        .expect("finite")
                })
            },
        );
    }
    g.finish();
}

/// Each optimizer's update of a 784×128 dense layer (100,480 parameters),
/// with the gradients of one real backward pass; includes the gradient-norm
/// pass that guards against NaN.
fn bench_optim(c: &mut Criterion) {
    let mut g = c.benchmark_group("optimizer update");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    let mut model = Sequential::builder(&[784])
        .dense(128, Activation::Softmax)
        .build(0)
        .expect("valid network");
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let xb = random(64, 784, 3).mapv(|v| v.abs()).into_dyn();
    let yb = Array1::from_shape_fn(64, |k| (k % 10) as f32).into_dyn();
    Trainer::new(&cfg)
        .train_batch(&mut model, xb.view(), yb.view())
        .expect("finite");
    g.throughput(Throughput::Elements(784 * 128 + 128));
    for (label, opt) in [
        ("sgd", Optimizer::sgd(1e-3)),
        ("momentum", Optimizer::momentum(1e-3, 0.9, false)),
        ("adagrad", Optimizer::adagrad(1e-3)),
        ("adadelta", Optimizer::adadelta(1.0)),
        ("rmsprop", Optimizer::rmsprop(1e-3)),
        ("adam", Optimizer::adam(1e-3)),
    ] {
        let mut state = OptimizerState::new(opt);
        g.bench_function(label, |bch| bch.iter(|| state.step(&mut model)));
    }
    g.finish();
}

/// The tutorial CNN's layers: `conv 28x28x1 -> 32 4x4 relu`, `maxpool 3x3`,
/// `conv 8x8x32 -> 64 4x4 relu`, `maxpool 3x3`, forward and backward at
/// batch 64 and 256. Throughput is in FLOPs (`2·macs`) for the convolutions
/// and the bare gemms of their lowering, in input elements for pooling.
///
/// `cargo bench -p nnc-benches --bench kernels -- conv --warm-up-time 1 --measurement-time 3`
fn bench_cnn(c: &mut Criterion) {
    let conv1 = Conv2d::new([28, 28, 1], 32, [4, 4], [1, 1], Padding::Valid).expect("conv1");
    let pool1 = Pool2d::new([25, 25, 32], [3, 3], [3, 3], Padding::Valid).expect("pool1");
    let conv2 = Conv2d::new([8, 8, 32], 64, [4, 4], [1, 1], Padding::Valid).expect("conv2");
    let pool2 = Pool2d::new([5, 5, 64], [3, 3], [3, 3], Padding::Valid).expect("pool2");
    let mut g = c.benchmark_group("conv");
    g.sample_size(20);
    for n in [1, 64, 256] {
        for (name, conv, first) in [("conv1", conv1, true), ("conv2", conv2, false)] {
            let flops = (2 * n * conv.macs()) as u64;
            let (m, k, co) = (
                n * conv.out_h() * conv.out_w(),
                conv.col_width(),
                conv.out_c,
            );
            let x = random(n, conv.in_width(), 1);
            let w = random(k, co, 2);
            let b = random(1, co, 3).row(0).to_owned();
            let mut col = vec![0.0; conv.col_len(n)];
            let mut y = Array2::<f32>::zeros((n, conv.out_width()));
            g.throughput(Throughput::Elements(flops));
            g.bench_function(BenchmarkId::new(format!("{name} fwd"), n), |bch| {
                bch.iter(|| {
                    conv2d::forward(
                        &conv,
                        black_box(x.view()),
                        w.view(),
                        Some(b.view()),
                        Activation::Relu,
                        &mut col,
                        None,
                        y.view_mut(),
                    )
                })
            });
            let colv = Array2::from_shape_vec((m, k), col.clone()).expect("col");
            let mut out = Array2::<f32>::zeros((m, co));
            g.bench_function(
                BenchmarkId::new(format!("{name} gemm fwd {m}x{k}x{co}"), n),
                |bch| bch.iter(|| gemm(1.0, black_box(colv.view()), w.view(), 0.0, out.view_mut())),
            );
            if n == 1 {
                continue;
            }
            let dy0 = random(n, conv.out_width(), 4);
            let mut dy = dy0.clone();
            let (mut dw, mut db) = (Array2::<f32>::zeros((k, co)), Array1::<f32>::zeros(co));
            let mut dx = Array2::<f32>::zeros((n, conv.in_width()));
            // The first layer needs no input gradient; conv2 does.
            // A training step's forward refills col (dx overwrites it), so
            // backward is timed with its forward: backward = this - fwd.
            let label = if first {
                "fwd+bwd dw db"
            } else {
                "fwd+bwd dw db dx"
            };
            let step_flops = if first { 2 * flops } else { 3 * flops };
            g.throughput(Throughput::Elements(step_flops));
            g.bench_function(BenchmarkId::new(format!("{name} {label}"), n), |bch| {
                bch.iter(|| {
                    conv2d::forward(
                        &conv,
                        x.view(),
                        w.view(),
                        Some(b.view()),
                        Activation::Relu,
                        &mut col,
                        None,
                        y.view_mut(),
                    );
                    dy.assign(&dy0);
                    conv2d::backward(
                        &conv,
                        x.view(),
                        w.view(),
                        Activation::Relu,
                        y.view(),
                        None,
                        dy.view_mut(),
                        false,
                        &mut col,
                        Conv2dGrads {
                            dw: Some(dw.view_mut()),
                            db: Some(db.view_mut()),
                            dx: (!first).then(|| dx.view_mut()),
                        },
                    )
                })
            });
            let dz = random(m, co, 5);
            let mut dcol = Array2::<f32>::zeros((m, k));
            g.bench_function(BenchmarkId::new(format!("{name} gemm {label}"), n), |bch| {
                bch.iter(|| {
                    gemm(1.0, colv.view(), w.view(), 0.0, out.view_mut());
                    gemm(1.0, colv.t(), dz.view(), 0.0, dw.view_mut());
                    if !first {
                        gemm(1.0, dz.view(), w.t(), 0.0, dcol.view_mut());
                    }
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("pool");
    g.sample_size(20);
    for n in [64, 256] {
        for (name, pool) in [("pool1", pool1), ("pool2", pool2)] {
            let x = random(n, pool.in_width(), 6);
            let mut y = Array2::<f32>::zeros((n, pool.out_width()));
            let mut arg = vec![0u32; n * pool.out_width()];
            g.throughput(Throughput::Elements((n * pool.in_width()) as u64));
            g.bench_function(BenchmarkId::new(format!("{name} max fwd"), n), |bch| {
                bch.iter(|| pool2d::max_forward(&pool, black_box(x.view()), None, y.view_mut()))
            });
            g.bench_function(
                BenchmarkId::new(format!("{name} max fwd +argmax"), n),
                |bch| {
                    bch.iter(|| {
                        pool2d::max_forward(
                            &pool,
                            black_box(x.view()),
                            Some(&mut arg),
                            y.view_mut(),
                        )
                    })
                },
            );
            let dy = random(n, pool.out_width(), 7);
            let mut dx = Array2::<f32>::zeros((n, pool.in_width()));
            g.bench_function(BenchmarkId::new(format!("{name} max bwd"), n), |bch| {
                bch.iter(|| pool2d::max_backward(&pool, &arg, black_box(dy.view()), dx.view_mut()))
            });
            g.bench_function(BenchmarkId::new(format!("{name} avg fwd"), n), |bch| {
                bch.iter(|| pool2d::avg_forward(&pool, black_box(x.view()), y.view_mut()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_gemm, bench_fused, bench_optim, bench_cnn);
criterion_main!(benches);
