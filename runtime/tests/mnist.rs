//! End to end on real data: MNIST's test split (from the shared data folder,
//! skipped when it is absent), read, trained on and evaluated.

use nnc_runtime::data::idx::read_images_and_labels;
use nnc_runtime::metrics::ConfusionMatrix;
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{evaluate, fit, predict, TrainConfig};
use nnc_runtime::{Activation, Loss, Metric, Optimizer};
use std::path::PathBuf;

fn mnist_dir() -> Option<PathBuf> {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist");
    [beside, PathBuf::from("/work/shared/data/mnist")]
        .into_iter()
        .find(|d| d.join("t10k-images-idx3-ubyte.gz").exists())
}

#[test]
fn small_mlp_learns_mnist_digits() {
    let Some(dir) = mnist_dir() else {
        eprintln!("skipped: MNIST not found");
        return;
    };
    let all = read_images_and_labels(
        dir.join("t10k-images-idx3-ubyte.gz"),
        dir.join("t10k-labels-idx1-ubyte.gz"),
        10,
    )
    .unwrap();
    let train = all.slice(0..3000);
    let test = all.slice(9000..10_000);
    let mut model = Sequential::builder(&[28, 28])
        .dense(64, Activation::Relu)
        .dense(10, Activation::Softmax)
        .build(1)
        .unwrap();
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(2e-3),
        batch_size: 32,
        epochs: 3,
        metrics: vec![Metric::Accuracy],
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    };
    let h = fit(&mut model, &cfg, &train).unwrap();
    let loss = h.get("loss").unwrap();
    assert!(loss[2] < loss[0], "{loss:?}");
    let e = evaluate(&mut model, cfg.loss, &[Metric::Accuracy], &test, 256).unwrap();
    assert!(e.metrics[0].1 > 0.85, "test accuracy {}", e.metrics[0].1);
    let out = predict(&mut model, test.x.view(), 256).unwrap();
    let cm = ConfusionMatrix::from_output(out.view(), test.y.view()).unwrap();
    assert!((cm.accuracy() - e.metrics[0].1).abs() < 1e-6);
    assert!(cm.macro_f1() > 0.8, "{cm}");
}
