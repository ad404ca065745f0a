//! Trains a small dense network on the iris data (bundled in `data/sklearn`,
//! or a path given as the first argument), prints the confusion
//! matrix and writes the learning curves to `iris.png` and `iris.csv`.
//!
//! `cargo run -p nnc-runtime --release --example iris [path/to/iris.csv]`

use nnc_runtime::data::csv::{read_csv, CsvOptions};
use nnc_runtime::data::transform::Standardizer;
use nnc_runtime::metrics::ConfusionMatrix;
use nnc_runtime::sequential::{summary, Sequential};
use nnc_runtime::train::{fit_with_validation, predict, EarlyStopping, TrainConfig};
use nnc_runtime::{plot, Activation, Loss, Metric, Optimizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sklearn/iris.csv").into());
    // The first line of sklearn's iris.csv is "150,4,setosa,...": read it as a header.
    let data = read_csv(&path, &CsvOptions::default())?;
    let (mut train, mut test) = data.train_test_split(0.3, 42)?;
    let scaler = Standardizer::fit(train.x.view())?;
    scaler.transform(&mut train.x)?;
    scaler.transform(&mut test.x)?;

    let mut model = Sequential::builder(&[4])
        .dense(16, Activation::Relu)
        .dense(3, Activation::Softmax)
        .build(7)?;
    println!("{}", summary(&model));
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(0.01),
        batch_size: 16,
        epochs: 100,
        metrics: vec![Metric::Accuracy],
        early_stopping: Some(EarlyStopping {
            patience: 10,
            restore_best_weights: true,
            ..EarlyStopping::default()
        }),
        ..TrainConfig::default()
    };
    let history = fit_with_validation(&mut model, &cfg, &train, Some(&test))?;
    let out = predict(&mut model, test.x.view(), 64)?;
    println!(
        "{}",
        ConfusionMatrix::from_output(out.view(), test.y.view())?
    );
    plot::learning_curves(&history, "iris.png")?;
    history.write_csv("iris.csv")?;
    println!("wrote iris.png and iris.csv ({} epochs)", history.len());
    Ok(())
}
