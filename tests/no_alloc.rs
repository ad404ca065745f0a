//! A training step of a generated network allocates nothing after the first,
//! and single-sample inference never allocates. Counted per thread: the test
//! harness allocates on its own threads meanwhile.

use nnc::ndarray::ArrayD;
use nnc::train::{TrainConfig, Trainer};
#[path = "../runtime/tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_during;

nnc::network! {
    network Mlp(image: [28, 28]) -> [10] {
        flatten
        dense(128) relu
        dropout(0.2)
        dense(64) gelu
        dense(10) softmax
    }

    /// The course's CNN, with a gelu convolution (pre-activation buffer),
    /// `same` max pooling and average pooling besides.
    network Cnn(image: [28, 28]) -> [10] {
        reshape([28, 28, 1])
        conv2d(8, 4) relu
        max_pool2d(3)
        conv2d(16, 3, padding = same) gelu
        max_pool2d(2, padding = same)
        avg_pool2d(2)
        flatten
        dense(16) relu
        dense(10)
    }

    /// Softmax classes after a convolution whose output (26x26x32 floats)
    /// puts `predict_one`'s layer outputs in its heap scratch.
    network HeapCnn(image: [28, 28]) -> [10] {
        reshape([28, 28, 1])
        conv2d(32, 3) relu
        flatten
        dense(10) softmax
    }

    network Tiny(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) softmax
    }
}

#[test]
fn steady_state_training_and_inference_do_not_allocate() {
    let mut net = Mlp::new(0);
    let cfg = TrainConfig {
        loss: nnc::Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: nnc::Optimizer::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            eps_placement: nnc::optim::EpsPlacement::Keras,
        },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg);
    let x = ArrayD::<f32>::from_shape_fn(vec![32, 28, 28], |i| {
        ((i[0] + i[1] * i[2]) % 7) as f32 / 7.0
    });
    let y = ArrayD::<f32>::from_shape_fn(vec![32], |i| (i[0] % 10) as f32);
    // Warm-up: buffers, optimizer state and the gemm packing buffers are allocated here.
    for _ in 0..2 {
        trainer.train_batch(&mut net, x.view(), y.view()).unwrap();
    }
    let steps = allocations_during(|| {
        for _ in 0..5 {
            trainer.train_batch(&mut net, x.view(), y.view()).unwrap();
        }
    });
    assert_eq!(steps, 0, "5 training steps allocated {steps} times");

    let tiny = Tiny::new(1);
    let mut acc = 0.0;
    let n = allocations_during(|| {
        for i in 0..100 {
            acc += tiny.predict_one(&[i as f32, 1.0])[0];
        }
    });
    assert_eq!(n, 0, "predict_one allocated");
    assert!(acc > 0.0);
    let n = allocations_during(|| {
        for i in 0..100 {
            acc += tiny.predict_one_logits(&[i as f32, 1.0])[0];
        }
    });
    assert_eq!(n, 0, "predict_one_logits allocated");
    let image = [[0.25f32; 28]; 28];
    let n = allocations_during(|| {
        for _ in 0..10 {
            acc += net.predict_one_logits(&image)[0];
        }
    });
    assert_eq!(n, 0, "Mlp predict_one_logits allocated");
    assert!(acc.is_finite());
}

#[test]
fn predict_one_and_its_logits_with_heap_scratch_do_not_allocate() {
    let net = HeapCnn::new(0);
    let image = [[0.25f32; 28]; 28];
    // The first call on a thread may grow the gemm's per-thread packing
    // buffers (the AVX2 path packs every product); later calls reuse them.
    let mut acc = net.predict_one(&image)[0] + net.predict_one_logits(&image)[0];
    let n = allocations_during(|| {
        for _ in 0..5 {
            acc += net.predict_one(&image)[0] + net.predict_one_logits(&image)[0];
        }
    });
    assert_eq!(n, 0, "HeapCnn predict_one or predict_one_logits allocated");
    assert!(acc.is_finite());
}

#[test]
fn cnn_training_step_and_predict_one_do_not_allocate() {
    let mut net = Cnn::new(0);
    let cfg = TrainConfig {
        loss: nnc::Loss::SparseCategoricalCrossentropy { from_logits: true },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg);
    let x = ArrayD::<f32>::from_shape_fn(vec![16, 28, 28], |i| {
        ((i[0] + i[1] * i[2]) % 7) as f32 / 7.0
    });
    let y = ArrayD::<f32>::from_shape_fn(vec![16], |i| (i[0] % 10) as f32);
    for _ in 0..2 {
        trainer.train_batch(&mut net, x.view(), y.view()).unwrap();
    }
    let steps = allocations_during(|| {
        for _ in 0..3 {
            trainer.train_batch(&mut net, x.view(), y.view()).unwrap();
        }
    });
    assert_eq!(steps, 0, "3 CNN training steps allocated {steps} times");
    let image = [[0.25f32; 28]; 28];
    let mut acc = 0.0;
    let n = allocations_during(|| {
        for _ in 0..10 {
            acc += net.predict_one(&image)[0];
        }
    });
    assert_eq!(n, 0, "CNN predict_one allocated");
    assert!(acc.is_finite());
}
