//! A training step allocates nothing once the first step has sized the
//! buffers: checked with a counting global allocator (its own test binary,
//! since a global allocator is process-wide).

use nnc_runtime::kernels::gemm;
use nnc_runtime::ndarray::{Array1, Array2};
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{TrainConfig, Trainer};
use nnc_runtime::{Activation, Loss, Optimizer};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

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
