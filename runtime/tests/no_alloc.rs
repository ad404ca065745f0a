//! A training step allocates nothing once the first step has sized the
//! buffers: checked with a counting global allocator (its own test binary,
//! since a global allocator is process-wide).

use nnc_runtime::kernels::gemm;
use nnc_runtime::ndarray::{Array1, Array2};
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{TrainConfig, Trainer};
use nnc_runtime::{Activation, Loss, Model, Optimizer};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;
use std::sync::{Arc, Barrier, Mutex};

// One test function, so the thread-local buffers it warms up are its own.
#[test]
fn training_steps_and_gemm_allocate_nothing_after_the_first() {
    // gemm at a forward and a backward MLP shape, after one warm-up call of each.
    let a = Array2::<f32>::ones((64, 784));
    let b = Array2::<f32>::ones((784, 128));
    let mut c = Array2::<f32>::zeros((64, 128));
    let mut dw = Array2::<f32>::zeros((784, 128));
    gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
    gemm(1.0, a.t(), c.view(), 0.0, dw.view_mut());
    let n = allocations_during(|| {
        for _ in 0..3 {
            gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
            // The backward shape, through a transposed view.
            gemm(1.0, a.t(), c.view(), 0.0, dw.view_mut());
        }
    });
    assert_eq!(n, 0, "gemm allocated {n} times");

    // Whole training steps: dense + gelu (keeps pre-activations) + dropout + softmax/CE, Adam.
    let mut model = Sequential::builder(&[20])
        .dense(32, Activation::Gelu)
        .regularize(0.0, 1e-4)
        .dropout(0.2)
        .dense(5, Activation::Softmax)
        .build(0)
        .unwrap();
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(1e-3),
        clip_norm: Some(1.0),
        metrics: vec![nnc_runtime::Metric::Accuracy],
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg);
    let x = Array2::from_shape_fn((16, 20), |(i, j)| ((i * 7 + j) % 11) as f32 / 11.0).into_dyn();
    let y = Array1::from_shape_fn(16, |i| (i % 5) as f32).into_dyn();
    trainer.train_batch(&mut model, x.view(), y.view()).unwrap();
    let small_x = x.slice_axis(nnc_runtime::ndarray::Axis(0), (0..7).into());
    let small_y = y.slice_axis(nnc_runtime::ndarray::Axis(0), (0..7).into());
    let n = allocations_during(|| {
        for _ in 0..5 {
            trainer.train_batch(&mut model, x.view(), y.view()).unwrap();
            // A smaller last batch reuses the same buffers.
            trainer
                .train_batch(&mut model, small_x.view(), small_y.view())
                .unwrap();
        }
    });
    assert_eq!(n, 0, "training steps allocated {n} times");
}

/// A small CNN assembled by hand from the convolution and pooling kernels,
/// as the compiler will generate it: `[12, 12, 1]` -> conv 3x3x4 relu ->
/// maxpool 2x2 -> conv 3x3x8 gelu (keeps its pre-activation) -> maxpool 2x2
/// same -> dense 5 softmax. Every buffer is allocated once, for `MAX` samples.
mod cnn {
    use nnc_runtime::kernels::conv2d::{self, Conv2d, Conv2dGrads};
    use nnc_runtime::kernels::pool2d::{self, Pool2d};
    use nnc_runtime::kernels::{dense, window::Padding};
    use nnc_runtime::ndarray::{
        s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut2,
    };
    use nnc_runtime::{Activation, GradAt, LayerInfo, Model, Param, Result};

    pub const MAX: usize = 16;

    /// A weight matrix, its bias and their gradients.
    struct Layer {
        w: Array2<f32>,
        b: Array1<f32>,
        dw: Array2<f32>,
        db: Array1<f32>,
        shape: [usize; 2],
    }

    impl Layer {
        fn new(rows: usize, cols: usize, seed: usize) -> Layer {
            let w = Array2::from_shape_fn((rows, cols), |(i, j)| {
                (((i * 31 + j * 17 + seed) % 23) as f32 / 23.0 - 0.5) * 0.5
            });
            Layer {
                w,
                b: Array1::zeros(cols),
                dw: Array2::zeros((rows, cols)),
                db: Array1::zeros(cols),
                shape: [rows, cols],
            }
        }
    }

    pub struct Cnn {
        c1: Conv2d,
        p1: Pool2d,
        c2: Conv2d,
        p2: Pool2d,
        l1: Layer,
        l2: Layer,
        l3: Layer,
        n: usize,
        x: Array2<f32>,
        col1: Vec<f32>,
        y1: Array2<f32>,
        arg1: Vec<u32>,
        a1: Array2<f32>,
        col2: Vec<f32>,
        pre2: Array2<f32>,
        y2: Array2<f32>,
        arg2: Vec<u32>,
        a2: Array2<f32>,
        out: Array2<f32>,
        d_out: Array2<f32>,
        d_a2: Array2<f32>,
        d_y2: Array2<f32>,
        d_a1: Array2<f32>,
        d_y1: Array2<f32>,
    }

    fn rows(a: &mut Array2<f32>, n: usize) -> ArrayViewMut2<'_, f32> {
        a.slice_mut(s![..n, ..])
    }

    impl Cnn {
        pub fn new() -> Cnn {
            let c1 = Conv2d::new([12, 12, 1], 4, [3, 3], [1, 1], Padding::Valid).unwrap();
            let p1 = Pool2d::new([10, 10, 4], [2, 2], [2, 2], Padding::Valid).unwrap();
            let c2 = Conv2d::new([5, 5, 4], 8, [3, 3], [1, 1], Padding::Valid).unwrap();
            let p2 = Pool2d::new([3, 3, 8], [2, 2], [2, 2], Padding::Same).unwrap();
            let z = |w: usize| Array2::zeros((MAX, w));
            Cnn {
                l1: Layer::new(c1.col_width(), c1.out_c, 1),
                l2: Layer::new(c2.col_width(), c2.out_c, 2),
                l3: Layer::new(p2.out_width(), 5, 3),
                n: 0,
                x: z(c1.in_width()),
                col1: vec![0.0; c1.col_len(MAX)],
                y1: z(c1.out_width()),
                arg1: vec![0; MAX * p1.out_width()],
                a1: z(p1.out_width()),
                col2: vec![0.0; c2.col_len(MAX)],
                pre2: z(c2.out_width()),
                y2: z(c2.out_width()),
                arg2: vec![0; MAX * p2.out_width()],
                a2: z(p2.out_width()),
                out: z(5),
                d_out: z(5),
                d_a2: z(p2.out_width()),
                d_y2: z(c2.out_width()),
                d_a1: z(p1.out_width()),
                d_y1: z(c1.out_width()),
                c1,
                p1,
                c2,
                p2,
            }
        }

        /// `predict_one`: one image through the network on caller scratch.
        pub fn predict_one(&self, x: &[f32], scratch: &mut [f32], out: &mut [f32; 5]) {
            let (c1, p1, c2, p2) = (&self.c1, &self.p1, &self.c2, &self.p2);
            // One col buffer for both convolutions, then the activations.
            let (col, rest) = scratch.split_at_mut(c1.col_len(1).max(c2.col_len(1)));
            let (y1, rest) = rest.split_at_mut(c1.out_width());
            let (a1, rest) = rest.split_at_mut(p1.out_width());
            let (y2, rest) = rest.split_at_mut(c2.out_width());
            let a2 = &mut rest[..p2.out_width()];
            let (w1, b1) = (self.l1.w.as_slice().unwrap(), self.l1.b.as_slice());
            conv2d::forward_one(c1, x, w1, b1, Activation::Relu, col, y1);
            pool2d::max_forward_one(p1, y1, a1);
            let (w2, b2) = (self.l2.w.as_slice().unwrap(), self.l2.b.as_slice());
            conv2d::forward_one(c2, a1, w2, b2, Activation::Gelu, col, y2);
            pool2d::max_forward_one(p2, y2, a2);
            let w3: &[[f32; 5]] = self.l3.w.as_slice().unwrap().as_chunks().0;
            dense::forward_one::<32, 5>(a2, w3, self.l3.b.as_slice(), Activation::Softmax, out);
        }

        /// The `predict_one` scratch length.
        pub fn scratch_len(&self) -> usize {
            self.c1.col_len(1).max(self.c2.col_len(1))
                + self.c1.out_width()
                + self.p1.out_width()
                + self.c2.out_width()
                + self.p2.out_width()
        }
    }

    impl Model for Cnn {
        fn name(&self) -> &str {
            "cnn"
        }
        fn input_shape(&self) -> &[usize] {
            &[12, 12, 1]
        }
        fn output_shape(&self) -> &[usize] {
            &[5]
        }
        fn output_activation(&self) -> Activation {
            Activation::Softmax
        }
        fn forward(
            &mut self,
            x: ArrayViewD<'_, f32>,
            _training: bool,
        ) -> Result<ArrayViewD<'_, f32>> {
            let n = x.shape()[0];
            assert!(n <= MAX);
            self.n = n;
            let xs = x.as_slice().expect("standard layout");
            rows(&mut self.x, n).assign(&ArrayView2::from_shape((n, 144), xs).unwrap());
            let (c1, p1, c2, p2) = (self.c1, self.p1, self.c2, self.p2);
            let x = self.x.slice(s![..n, ..]);
            let b1 = Some(self.l1.b.view());
            conv2d::forward(
                &c1,
                x,
                self.l1.w.view(),
                b1,
                Activation::Relu,
                &mut self.col1,
                None,
                rows(&mut self.y1, n),
            );
            pool2d::max_forward(
                &p1,
                self.y1.slice(s![..n, ..]),
                Some(&mut self.arg1),
                rows(&mut self.a1, n),
            );
            let b2 = Some(self.l2.b.view());
            conv2d::forward(
                &c2,
                self.a1.slice(s![..n, ..]),
                self.l2.w.view(),
                b2,
                Activation::Gelu,
                &mut self.col2,
                Some(rows(&mut self.pre2, n)),
                rows(&mut self.y2, n),
            );
            pool2d::max_forward(
                &p2,
                self.y2.slice(s![..n, ..]),
                Some(&mut self.arg2),
                rows(&mut self.a2, n),
            );
            let b3: Option<ArrayView1<'_, f32>> = Some(self.l3.b.view());
            let head = dense::Dense {
                inputs: self.l3.w.nrows(),
                units: 5,
                act: Activation::Softmax,
            };
            head.forward(dense::Forward {
                x: self.a2.slice(s![..n, ..]),
                w: self.l3.w.view(),
                b: b3,
                pre: None,
                y: rows(&mut self.out, n),
            });
            Ok(self.out.slice(s![..n, ..]).into_dyn())
        }
        fn backward(&mut self, grad: ArrayViewD<'_, f32>, at: GradAt) -> Result<()> {
            let n = self.n;
            let g = grad.as_slice().expect("standard layout");
            rows(&mut self.d_out, n).assign(&ArrayView2::from_shape((n, 5), g).unwrap());
            let head = dense::Dense {
                inputs: self.l3.w.nrows(),
                units: 5,
                act: Activation::Softmax,
            };
            head.backward(
                dense::Backward {
                    x: self.a2.slice(s![..n, ..]),
                    w: self.l3.w.view(),
                    y: self.out.slice(s![..n, ..]),
                    pre: None,
                    dy: rows(&mut self.d_out, n),
                    at_logits: at == GradAt::Logits,
                },
                dense::Grads {
                    dw: Some(self.l3.dw.view_mut()),
                    db: Some(self.l3.db.view_mut()),
                    dx: Some(nnc_runtime::kernels::Grad::Write(rows(&mut self.d_a2, n))),
                },
            );
            pool2d::max_backward(
                &self.p2,
                &self.arg2,
                self.d_a2.slice(s![..n, ..]),
                rows(&mut self.d_y2, n),
            );
            conv2d::backward(
                &self.c2,
                self.a1.slice(s![..n, ..]),
                self.l2.w.view(),
                Activation::Gelu,
                self.y2.slice(s![..n, ..]),
                Some(self.pre2.slice(s![..n, ..])),
                rows(&mut self.d_y2, n),
                false,
                &mut self.col2,
                Conv2dGrads {
                    dw: Some(self.l2.dw.view_mut()),
                    db: Some(self.l2.db.view_mut()),
                    dx: Some(rows(&mut self.d_a1, n)),
                },
            );
            pool2d::max_backward(
                &self.p1,
                &self.arg1,
                self.d_a1.slice(s![..n, ..]),
                rows(&mut self.d_y1, n),
            );
            // The first layer: no input gradient.
            conv2d::backward(
                &self.c1,
                self.x.slice(s![..n, ..]),
                self.l1.w.view(),
                Activation::Relu,
                self.y1.slice(s![..n, ..]),
                None,
                rows(&mut self.d_y1, n),
                false,
                &mut self.col1,
                Conv2dGrads {
                    dw: Some(self.l1.dw.view_mut()),
                    db: Some(self.l1.db.view_mut()),
                    dx: None,
                },
            );
            Ok(())
        }
        fn penalty(&self) -> f32 {
            0.0
        }
        fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
            let names = [
                ["conv1.kernel", "conv1.bias"],
                ["conv2.kernel", "conv2.bias"],
                ["dense.kernel", "dense.bias"],
            ];
            for (i, (l, names)) in [&mut self.l1, &mut self.l2, &mut self.l3]
                .into_iter()
                .zip(names)
                .enumerate()
            {
                f(Param {
                    index: 2 * i,
                    name: names[0],
                    shape: &l.shape,
                    value: l.w.as_slice_mut().unwrap(),
                    grad: l.dw.as_slice().unwrap(),
                    trainable: true,
                });
                f(Param {
                    index: 2 * i + 1,
                    name: names[1],
                    shape: &l.shape[1..],
                    value: l.b.as_slice_mut().unwrap(),
                    grad: l.db.as_slice().unwrap(),
                    trainable: true,
                });
            }
        }
        fn reseed(&mut self, _seed: u64) {}
        fn layers(&self) -> Vec<LayerInfo> {
            Vec::new()
        }
    }
}

#[test]
fn cnn_training_steps_and_predict_one_allocate_nothing_after_the_first() {
    let mut model = cnn::Cnn::new();
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(1e-2),
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg);
    let n = cnn::MAX;
    let x = Array2::from_shape_fn((n, 144), |(i, j)| ((i * 13 + j * 7) % 17) as f32 / 17.0)
        .into_shape_with_order((n, 12, 12, 1))
        .unwrap()
        .into_dyn();
    let y = Array1::from_shape_fn(n, |i| (i % 5) as f32).into_dyn();
    let first = trainer.train_batch(&mut model, x.view(), y.view()).unwrap();
    let small_x = x.slice_axis(nnc_runtime::ndarray::Axis(0), (0..5).into());
    let small_y = y.slice_axis(nnc_runtime::ndarray::Axis(0), (0..5).into());
    let mut last = first;
    let allocs = allocations_during(|| {
        for _ in 0..10 {
            last = trainer.train_batch(&mut model, x.view(), y.view()).unwrap();
            trainer
                .train_batch(&mut model, small_x.view(), small_y.view())
                .unwrap();
        }
    });
    assert_eq!(allocs, 0, "CNN training steps allocated {allocs} times");
    // The steps did train (so the kernels above really ran).
    assert!(last < first, "loss {first} -> {last}");

    let mut scratch = vec![0.0; model.scratch_len()];
    let mut out = [0.0f32; 5];
    let image = x.as_slice().unwrap()[..144].to_vec();
    model.predict_one(&image, &mut scratch, &mut out);
    let allocs = allocations_during(|| {
        for _ in 0..3 {
            model.predict_one(&image, &mut scratch, &mut out);
        }
    });
    assert_eq!(allocs, 0, "predict_one allocated {allocs} times");
    // The same numbers as the batch forward.
    let batch = model.forward(x.view(), false).unwrap();
    for (a, b) in out.iter().zip(batch.iter()) {
        assert!(
            (a - b).abs() < 1e-6,
            "predict_one {out:?} vs forward {batch}"
        );
    }
}

/// One rank alone: the collectives change nothing, so what is counted is the
/// distributed step itself (gradients packed and reduce-scattered, the
/// rank's share of the update, the parameters all-gathered, through the
/// trait's default collectives), which must allocate nothing either.
struct Solo;

impl nnc_runtime::dist::GradientSync for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&mut self, _: &mut [f32]) -> nnc_runtime::Result<()> {
        Ok(())
    }
    fn sum_f64(&mut self, _: &mut [f64]) -> nnc_runtime::Result<()> {
        Ok(())
    }
    fn broadcast_f32(&mut self, _: &mut [f32]) -> nnc_runtime::Result<()> {
        Ok(())
    }
}

#[test]
fn distributed_steps_allocate_nothing_after_the_first() {
    use nnc_runtime::dist::{fit_distributed, DataLayout};
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(1e-3),
        batch_size: 16,
        epochs: 2,
        metrics: vec![nnc_runtime::Metric::Accuracy],
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let data = |n: usize| {
        let x = Array2::from_shape_fn((n, 20), |(i, j)| ((i * 7 + j) % 11) as f32 / 11.0);
        let y = Array1::from_shape_fn(n, |i| (i % 5) as f32);
        nnc_runtime::Dataset::new(x.into_dyn(), y.into_dyn()).unwrap()
    };
    let model = || {
        Sequential::builder(&[20])
            .dense(32, Activation::Relu)
            .dense(5, Activation::Softmax)
            .build(0)
            .unwrap()
    };
    // 10 and 100 steps per epoch: the same allocations (per run and per
    // epoch), none per step.
    let run = |n: usize| {
        let d = data(n);
        let mut m = model();
        allocations_during(|| {
            fit_distributed(&mut m, &cfg, &d, DataLayout::Replicated, &mut Solo).unwrap();
        })
    };
    run(160); // warms up this thread's buffers
    let (few, many) = (run(160), run(1600));
    assert_eq!(
        few, many,
        "100 steps allocated {many} times, 10 steps {few}"
    );
}

/// Two ranks as threads that allocate nothing once their buffers have
/// grown: each deposits its buffer in its slot, then both read the slots.
/// With two ranks every step cuts a parameter in two (the model's 837
/// values split 419 + 418, inside the first weight), so what is counted
/// includes the sharded update, the reduce-scatter and the all-gather.
struct Pair {
    rank: usize,
    shared: Arc<(Mutex<[Vec<f64>; 2]>, Barrier)>,
}

impl Pair {
    fn deposit(&self, put: impl FnOnce(&mut Vec<f64>)) {
        let (slots, barrier) = &*self.shared;
        {
            let mut s = slots.lock().unwrap();
            s[self.rank].clear();
            put(&mut s[self.rank]);
        }
        barrier.wait();
    }

    fn collect(&self, read: impl FnOnce(&[Vec<f64>; 2])) {
        let (slots, barrier) = &*self.shared;
        read(&slots.lock().unwrap());
        barrier.wait();
    }
}

impl nnc_runtime::dist::GradientSync for Pair {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        2
    }
    fn sum_f32(&mut self, buf: &mut [f32]) -> nnc_runtime::Result<()> {
        self.deposit(|v| v.extend(buf.iter().map(|&x| x as f64)));
        self.collect(|s| {
            for (k, x) in buf.iter_mut().enumerate() {
                *x = s[0][k] as f32 + s[1][k] as f32;
            }
        });
        Ok(())
    }
    fn sum_f64(&mut self, buf: &mut [f64]) -> nnc_runtime::Result<()> {
        self.deposit(|v| v.extend_from_slice(buf));
        self.collect(|s| {
            for (k, x) in buf.iter_mut().enumerate() {
                *x = s[0][k] + s[1][k];
            }
        });
        Ok(())
    }
    fn broadcast_f32(&mut self, buf: &mut [f32]) -> nnc_runtime::Result<()> {
        self.deposit(|v| v.extend(buf.iter().map(|&x| x as f64)));
        self.collect(|s| {
            for (x, &r) in buf.iter_mut().zip(&s[0]) {
                *x = r as f32;
            }
        });
        Ok(())
    }
}

#[test]
fn two_rank_distributed_steps_allocate_nothing_after_the_first() {
    use nnc_runtime::dist::{fit_distributed, DataLayout};
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(1e-3),
        clip_norm: Some(1.0),
        batch_size: 16,
        epochs: 2,
        metrics: vec![nnc_runtime::Metric::Accuracy],
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let data = |n: usize| {
        let x = Array2::from_shape_fn((n, 20), |(i, j)| ((i * 7 + j) % 11) as f32 / 11.0);
        let y = Array1::from_shape_fn(n, |i| (i % 5) as f32);
        nnc_runtime::Dataset::new(x.into_dyn(), y.into_dyn()).unwrap()
    };
    let shared = Arc::new((Mutex::new([Vec::new(), Vec::new()]), Barrier::new(2)));
    let counts: Vec<(usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|rank| {
                let (shared, cfg, data) = (shared.clone(), &cfg, &data);
                s.spawn(move || {
                    let mut sync = Pair { rank, shared };
                    // Per thread, so each rank counts its own allocations.
                    let mut run = |n: usize| {
                        let d = data(n);
                        let mut m = Sequential::builder(&[20])
                            .dense(32, Activation::Relu)
                            .dense(5, Activation::Softmax)
                            .build(rank as u64)
                            .unwrap();
                        allocations_during(|| {
                            fit_distributed(&mut m, cfg, &d, DataLayout::Replicated, &mut sync)
                                .unwrap();
                        })
                    };
                    run(160); // warms up this thread's buffers
                    (run(160), run(1600))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (rank, (few, many)) in counts.iter().enumerate() {
        assert_eq!(
            few, many,
            "rank {rank}: 100 steps allocated {many} times, 10 steps {few}"
        );
    }
}
