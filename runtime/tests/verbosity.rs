//! What `fit` prints when its output is not a terminal. Each test re-runs
//! this test binary as a child with stdout piped (as in a CI log) and reads
//! what the child printed.

use nnc_runtime::ndarray::Array2;
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{self, TrainConfig, Verbosity};
use nnc_runtime::{Activation, Dataset, Loss, Optimizer};
use std::process::Command;

const CHILD: &str = "NNC_VERBOSITY_TEST_CHILD";

/// Trains a tiny regression for 3 epochs with `verbose`.
fn train_tiny(verbose: Verbosity) {
    let x = Array2::from_shape_fn((32, 1), |(i, _)| i as f32 / 32.0).into_dyn();
    let y = x.mapv(|v| 2.0 * v - 1.0);
    let data = Dataset::new(x, y).unwrap();
    let mut model = Sequential::builder(&[1])
        .dense(1, Activation::Linear)
        .build(0)
        .unwrap();
    let cfg = TrainConfig {
        loss: Loss::Mse,
        optimizer: Optimizer::sgd(0.1),
        epochs: 3,
        batch_size: 8,
        validation_split: 0.25,
        verbose,
        ..Default::default()
    };
    train::fit(&mut model, &cfg, &data).unwrap();
}

/// Runs test `name` of this binary in a child with stdout piped; returns its stdout.
fn child_stdout(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The epoch lines (the test harness may print its own text before the first).
fn epoch_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.find("epoch ").map(|i| &l[i..]))
        .collect()
}

#[test]
fn auto_prints_one_line_per_epoch_into_a_pipe() {
    if std::env::var_os(CHILD).is_some() {
        return train_tiny(Verbosity::Auto);
    }
    let stdout = child_stdout("auto_prints_one_line_per_epoch_into_a_pipe");
    let lines = epoch_lines(&stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    for (k, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("epoch {}/3 - ", k + 1)), "{line}");
        assert!(
            line.contains(" - loss ") && line.contains(" - val_loss "),
            "{line}"
        );
    }
}

#[test]
fn silent_prints_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return train_tiny(Verbosity::Silent);
    }
    let stdout = child_stdout("silent_prints_nothing");
    assert!(epoch_lines(&stdout).is_empty(), "{stdout}");
}

#[test]
fn keras_levels_map_to_verbosities() {
    assert_eq!(Verbosity::from_level(0), Some(Verbosity::Silent));
    assert_eq!(Verbosity::from_level(1), Some(Verbosity::ProgressBar));
    assert_eq!(Verbosity::from_level(2), Some(Verbosity::EpochLines));
    assert_eq!(Verbosity::from_level(3), None);
    assert_eq!(Verbosity::from(false), Verbosity::Silent);
}
