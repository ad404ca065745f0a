//! CI-sized runs of every example (a subset of the data, a few epochs), each
//! with an assertion that fails if the example stops learning: accuracy
//! well above chance, loss below its start, errors below a baseline.

// Several examples include `examples/common/mod.rs` as their own module, as
// a standalone example must; here that file is therefore loaded more than once.
#![allow(clippy::duplicate_mod)]

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "../examples/boston_housing.rs"]
mod boston_housing;
#[allow(dead_code)]
#[path = "../examples/digits.rs"]
mod digits;
#[allow(dead_code)]
#[path = "../examples/early_stopping.rs"]
mod early_stopping;
#[allow(dead_code)]
#[path = "../examples/fashion_mnist.rs"]
mod fashion_mnist;
#[allow(dead_code)]
#[path = "../examples/kfold.rs"]
mod kfold;
#[allow(dead_code)]
#[path = "../examples/mnist.rs"]
mod mnist;
#[allow(dead_code)]
#[path = "../examples/mnist_cnn.rs"]
mod mnist_cnn;
#[allow(dead_code)]
#[path = "../examples/multilabel.rs"]
mod multilabel;
#[allow(dead_code)]
#[path = "../examples/residual.rs"]
mod residual;
#[allow(dead_code)]
#[path = "../examples/transfer.rs"]
mod transfer;
#[allow(dead_code)]
#[path = "../examples/xor.rs"]
mod xor;

/// A fresh output folder per test, so parallel tests do not share files.
fn out_dir(name: &str) -> String {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("nnc-examples-{}-{name}", std::process::id()));
    dir.to_string_lossy().into_owned()
}

/// The loss of the last epoch is below that of the first.
fn fell(losses: &[f32]) -> bool {
    matches!((losses.first(), losses.last()), (Some(a), Some(b)) if b < a)
}

#[test]
fn mnist_learns_from_a_subset() {
    let out = out_dir("mnist");
    let opts = mnist::Options::parse_from([
        "mnist", "--quiet", "--limit", "3000", "--epochs", "2", "--out", &out,
    ]);
    let r = mnist::run(&opts).unwrap();
    assert!(
        r.test_accuracy > 0.8,
        "test accuracy {} (chance 0.1)",
        r.test_accuracy
    );
    assert!(fell(&r.losses), "{:?}", r.losses);
    // The saved weights load and predict without training, as a second run would.
    let weights = format!("{out}/mnist.safetensors");
    let again = mnist::Options::parse_from([
        "mnist", "--quiet", "--limit", "10", "--out", &out, "--load", &weights,
    ]);
    let r2 = mnist::run(&again).unwrap();
    assert!(r2.losses.is_empty());
    assert_eq!(r2.test_accuracy, r.test_accuracy);
    let _ = std::fs::remove_dir_all(out);
}

/// The CNN examples on a few hundred images, two epochs: well above the 10%
/// of chance.
#[test]
fn mnist_cnn_learns_from_a_subset() {
    for (args, floor) in [
        (&["--model", "tutorial"][..], 0.6),
        (&["--model", "tutorial", "--unscaled"][..], 0.5),
        (&["--model", "strong"][..], 0.6),
        (&["--model", "strong", "--fashion"][..], 0.5),
    ] {
        let out = out_dir("mnist_cnn");
        let mut argv = vec![
            "mnist_cnn",
            "--quiet",
            "--limit",
            "1000",
            "--test-limit",
            "500",
        ];
        argv.extend_from_slice(&["--epochs", "2", "--out", &out]);
        argv.extend_from_slice(args);
        let r = mnist_cnn::run(&mnist_cnn::Options::parse_from(&argv)).unwrap();
        assert!(
            r.test_accuracy > floor,
            "{args:?}: test accuracy {}",
            r.test_accuracy
        );
    }
}

#[test]
fn fashion_mnist_learns_from_a_subset() {
    let out = out_dir("fashion");
    let opts = fashion_mnist::Options::parse_from([
        "fashion_mnist",
        "--quiet",
        "--limit",
        "3000",
        "--epochs",
        "2",
        "--out",
        &out,
    ]);
    let r = fashion_mnist::run(&opts).unwrap();
    assert!(
        r.test_accuracy > 0.6,
        "test accuracy {} (chance 0.1)",
        r.test_accuracy
    );
    assert!(fell(&r.losses), "{:?}", r.losses);
    let weights = format!("{out}/fashion_mnist.safetensors");
    let again = fashion_mnist::Options::parse_from(["f", "--quiet", "--load", &weights]);
    assert_eq!(
        fashion_mnist::run(&again).unwrap().test_accuracy,
        r.test_accuracy
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn boston_housing_beats_the_mean() {
    let out = out_dir("boston");
    let opts = boston_housing::Options::parse_from([
        "boston_housing",
        "--quiet",
        "--epochs",
        "40",
        "--out",
        &out,
    ]);
    let r = boston_housing::run(&opts).unwrap();
    assert!(
        r.test_mae < 0.6 * r.mean_baseline_mae,
        "test MAE {} vs {} for predicting the mean",
        r.test_mae,
        r.mean_baseline_mae
    );
    assert!(r.test_r2 > 0.5, "R² {}", r.test_r2);
    assert!(fell(&r.losses));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn xor_needs_the_hidden_layer() {
    let r = xor::run(&xor::Options::parse_from(["xor", "--quiet"])).unwrap();
    assert_eq!(r.accuracy, 1.0);
    assert!(r.linear_accuracy < 1.0);
    assert!(fell(&r.losses));
}

#[test]
fn digits_binary_and_ten_classes() {
    let r = digits::run(&digits::Options::parse_from([
        "digits", "--quiet", "--epochs", "8",
    ]))
    .unwrap();
    assert!(r.binary_accuracy > 0.9, "0 vs 1: {}", r.binary_accuracy);
    assert!(r.binary_test_size > 50);
    assert!(r.accuracy > 0.6, "10 classes: {} (chance 0.1)", r.accuracy);
    assert!(fell(&r.losses));
}

#[test]
fn multilabel_beats_the_majority_answer_on_every_label() {
    let r = multilabel::run(&multilabel::Options::parse_from([
        "multilabel",
        "--quiet",
        "--epochs",
        "8",
    ]))
    .unwrap();
    for k in 0..3 {
        assert!(
            r.per_label[k] > r.majority[k].max(0.5) + 0.15,
            "{}: {} vs majority {}",
            multilabel::LABELS[k],
            r.per_label[k],
            r.majority[k]
        );
    }
    assert!(fell(&r.losses));
}

#[test]
fn kfold_reports_every_fold() {
    let r = kfold::run(&kfold::Options::parse_from([
        "kfold", "--quiet", "--folds", "3", "--epochs", "8",
    ]))
    .unwrap();
    assert_eq!(r.fold_accuracy.len(), 3);
    assert!(
        r.mean > r.majority + 0.2,
        "{} vs majority {}",
        r.mean,
        r.majority
    );
    assert!(r.std < 0.1);
}

#[test]
fn transfer_beats_the_head_from_scratch() {
    let opts = transfer::Options::parse_from([
        "transfer",
        "--quiet",
        "--limit",
        "6000",
        "--source-epochs",
        "2",
        "--epochs",
        "30",
        "--repeats",
        "2",
    ]);
    let r = transfer::run(&opts).unwrap();
    assert!(r.source_accuracy > 0.9, "source {}", r.source_accuracy);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(
        mean(&r.transfer) > 0.4,
        "transfer {:?} (chance 0.2)",
        r.transfer
    );
    assert!(
        mean(&r.transfer) > mean(&r.scratch),
        "{:?} vs {:?}",
        r.transfer,
        r.scratch
    );
}

#[test]
fn early_stopping_stops_before_the_limit_and_keeps_its_best_epoch() {
    let out = out_dir("early");
    let opts = early_stopping::Options::parse_from([
        "early_stopping",
        "--quiet",
        "--epochs",
        "80",
        "--out",
        &out,
    ]);
    let r = early_stopping::run(&opts).unwrap();
    assert_eq!(r.overfit.epochs, 80);
    assert!(
        r.stopped.epochs < 80,
        "did not stop: {} epochs",
        r.stopped.epochs
    );
    assert!(r.stopped.kept_epoch < r.stopped.epochs);
    // The overfitted run's validation loss ends above its own best.
    let best = r
        .overfit
        .val_losses
        .iter()
        .cloned()
        .fold(f32::INFINITY, f32::min);
    assert!(r.overfit.val_losses.last().unwrap() > &best);
    assert!(
        r.stopped.mae < r.overfit.mae,
        "{} vs {}",
        r.stopped.mae,
        r.overfit.mae
    );
    assert!(r.stopped.mae < r.mean_baseline_mae);
    assert!(std::path::Path::new(&out).join("overfit.png").is_file());
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_wrong_data_path_is_a_clear_error() {
    let missing = "/nonexistent/nnc-data";
    let errors = [
        mnist::run(&mnist::Options::parse_from([
            "mnist", "--quiet", "--data", missing,
        ]))
        .err(),
        fashion_mnist::run(&fashion_mnist::Options::parse_from([
            "f", "--quiet", "--data", missing,
        ]))
        .err(),
        boston_housing::run(&boston_housing::Options::parse_from([
            "b", "--quiet", "--data", missing,
        ]))
        .err(),
        xor::run(&xor::Options::parse_from([
            "x", "--quiet", "--data", missing,
        ]))
        .err(),
        digits::run(&digits::Options::parse_from([
            "d", "--quiet", "--data", missing,
        ]))
        .err(),
        multilabel::run(&multilabel::Options::parse_from([
            "m", "--quiet", "--data", missing,
        ]))
        .err(),
        kfold::run(&kfold::Options::parse_from([
            "k", "--quiet", "--data", missing,
        ]))
        .err(),
        transfer::run(&transfer::Options::parse_from([
            "t", "--quiet", "--data", missing,
        ]))
        .err(),
        early_stopping::run(&early_stopping::Options::parse_from([
            "e", "--quiet", "--data", missing,
        ]))
        .err(),
    ];
    for (k, e) in errors.into_iter().enumerate() {
        let msg = e
            .unwrap_or_else(|| panic!("example {k} accepted a missing path"))
            .to_string();
        assert!(msg.contains("/nonexistent"), "example {k}: {msg}");
    }
}

#[test]
fn residual_mlp_trains_and_beats_the_plain_one_on_average() {
    let r = residual::run(&residual::Options::parse_from([
        "residual", "--quiet", "--seeds", "2", "--epochs", "10",
    ]))
    .unwrap();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(mean(&r.residual) > 0.8, "residual {:?}", r.residual);
    assert!(
        mean(&r.residual) > mean(&r.plain),
        "residual {:?} vs plain {:?}",
        r.residual,
        r.plain
    );
    assert!(fell(&r.losses), "{:?}", r.losses);
}
