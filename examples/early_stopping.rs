//! Early stopping rescues an over-large model: the same network trained
//! with and without the spec's `early_stopping(...)`, with learning curves
//! written as PNG. Network from `examples/specs/early_stopping.nn`.
//!
//! ```text
//! cargo run --release --example early_stopping
//! cargo run --release --example early_stopping -- --data DIR   # diabetes_data_raw.csv.gz, diabetes_target.csv.gz
//! ```
//!
//! scikit-learn's diabetes set has 442 patients; 20% (seeded) are the test
//! set (89: the split rounds the held-out part up, as Keras'
//! `validation_split` does), and of the 353 left the last 20% (71) validate,
//! so the network trains on 282 rows. Features and target are standardised
//! with the statistics of the training rows only; errors are reported back
//! in the target's units.
//!
//! Writes `overfit.png` (300 epochs, no stopping) and `early_stopped.png` to
//! `--out`: in the first, the training loss keeps falling while the
//! validation loss turns and climbs; the second stops near the turn.
//!
//! Measured (`taskset -c 1 cargo run --release --example early_stopping`,
//! seed 42, one thread: 1.8 s for both runs), test errors in the target's
//! units:
//!
//! | model | epochs | weights kept from epoch | test MAE | test R² |
//! | --- | --- | --- | --- | --- |
//! | predict the training mean | | | 69.3 | |
//! | no early stopping | 300 | 300 | 53.7 | 0.211 |
//! | early stopping (patience 20) | 43 | 23 | **45.2** | **0.497** |
//!
//! Seeds 1, 2 and 3 tell the same story (`--seed N`; R² without → with:
//! 0.065 → 0.407, 0.188 → 0.476, 0.160 → 0.441; weights kept from epochs
//! 20, 21 and 5). The validation loss bottoms out between epochs 5 and 23
//! and then climbs for the rest of the run while the training loss falls to
//! nearly zero.

#[path = "common/mod.rs"]
mod common;

#[path = "common/options.rs"]
#[macro_use]
mod options;
use nnc::data::csv::{read_table, Delimiter};
use nnc::data::transform::Standardizer;
use nnc::{Dataset, History};
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/early_stopping.nn");

options! {
    /// Command-line options.
    pub struct Options {
        /// Folder with `diabetes_data_raw.csv.gz` (10 space-separated features per
        /// row) and `diabetes_target.csv.gz` (one value per row), gzip or not.
        pub data: PathBuf = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sklearn")),
        /// Override the 300 epochs (the limit for both runs).
        pub epochs: Option<usize>,
        /// Seed for the split, the initial weights and shuffling.
        pub seed: u64 = 42,
        /// Where to write the learning curves (PNG) and histories (CSV).
        pub out: PathBuf = PathBuf::from("target/nnc-examples/early_stopping"),
        /// Print only errors.
        pub quiet: bool,
    }
}

/// One run's result on the test set (in the target's units).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Mean absolute error.
    pub mae: f32,
    /// Coefficient of determination.
    pub r2: f32,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose weights were kept (the last one without early stopping).
    pub kept_epoch: usize,
    /// Training loss per epoch.
    pub losses: Vec<f32>,
    /// Validation loss per epoch.
    pub val_losses: Vec<f32>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Trained for every epoch.
    pub overfit: Outcome,
    /// Trained with early stopping.
    pub stopped: Outcome,
    /// Test MAE of predicting the training mean.
    pub mean_baseline_mae: f32,
    /// Wall time of both runs, in seconds.
    pub seconds: f64,
}

fn load(dir: &std::path::Path) -> Result<Dataset, Box<dyn std::error::Error>> {
    nnc::data::verify_checksums(dir)?;
    let find = |stem: &str| {
        let gz = dir.join(format!("{stem}.csv.gz"));
        if gz.exists() {
            gz
        } else {
            dir.join(format!("{stem}.csv"))
        }
    };
    let x = read_table(find("diabetes_data_raw"), Delimiter::Whitespace, false, 0)?;
    let y = read_table(find("diabetes_target"), Delimiter::Whitespace, false, 0)?;
    if x.values.ncols() != 10 || y.values.ncols() != 1 || x.values.nrows() != y.values.nrows() {
        return Err(format!(
            "{}: expected 10 feature columns and one target per row, found {:?} features and {:?} targets",
            dir.display(),
            x.values.dim(),
            y.values.dim()
        )
        .into());
    }
    Ok(Dataset::new(x.values.into_dyn(), y.values.into_dyn())?)
}

fn train_and_test(
    cfg: &nnc::TrainConfig,
    seed: u64,
    train: &Dataset,
    test: &Dataset,
    target: &Standardizer,
) -> Result<(Outcome, History), Box<dyn std::error::Error>> {
    let mut net = Overfit::new(seed);
    let history = nnc::fit(&mut net, cfg, train)?;
    let mut pred = nnc::predict(&mut net, test.x.view(), 256)?;
    let mut truth = test.y.clone();
    target.inverse_transform(&mut pred)?;
    target.inverse_transform(&mut truth)?;
    let outcome = Outcome {
        mae: nnc::metrics::mae(pred.view(), truth.view())?,
        r2: nnc::metrics::r2(pred.view(), truth.view())?,
        epochs: history.len(),
        kept_epoch: history.restored_epoch.unwrap_or(history.len()),
        losses: history.get("loss").unwrap_or_default(),
        val_losses: history.get("val_loss").unwrap_or_default(),
    };
    Ok((outcome, history))
}

/// Trains the model twice, with and without early stopping, and compares.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    let data = load(&opts.data)?;
    let (mut train, mut test) = data.train_test_split(0.2, opts.seed)?;
    let features = Standardizer::fit(train.x.view())?;
    features.transform(&mut train.x)?;
    features.transform(&mut test.x)?;
    let target = Standardizer::fit(train.y.view())?;
    target.transform(&mut train.y)?;
    target.transform(&mut test.y)?;
    let mean = target.mean[0];
    let mut truth = test.y.clone();
    target.inverse_transform(&mut truth)?;
    let mean_baseline_mae =
        truth.iter().map(|t| (t - mean).abs()).sum::<f32>() / truth.len() as f32;

    let mut cfg = Overfit::train_config();
    cfg.seed = opts.seed;
    cfg.verbose = nnc::train::Verbosity::Silent;
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    let without = nnc::TrainConfig {
        early_stopping: None,
        ..cfg.clone()
    };
    let start = Instant::now();
    let (overfit, h1) = train_and_test(&without, opts.seed, &train, &test, &target)?;
    let (stopped, h2) = train_and_test(&cfg, opts.seed, &train, &test, &target)?;
    let seconds = start.elapsed().as_secs_f64();

    // std's error alone does not say which folder.
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    for (name, h) in [("overfit", &h1), ("early_stopped", &h2)] {
        h.write_csv(opts.out.join(format!("{name}.csv")))?;
        nnc::plot::learning_curves(h, opts.out.join(format!("{name}.png")))?;
    }
    if !opts.quiet {
        let (_, val) = train.validation_split(cfg.validation_split)?;
        println!(
            "{} training rows, {} validation, {} test; test error in the target's units:",
            train.len() - val.len(),
            val.len(),
            test.len()
        );
        println!("  predict the training mean              MAE {mean_baseline_mae:.1}");
        for (name, o) in [
            ("no early stopping", &overfit),
            ("early stopping", &stopped),
        ] {
            println!(
                "  {name:<18} {:>3} epochs, kept {:>3}  MAE {:.1}  R² {:.3}",
                o.epochs, o.kept_epoch, o.mae, o.r2
            );
        }
        println!(
            "(seed {}, {:.1} s; wrote overfit.png and early_stopped.png to {})",
            opts.seed,
            seconds,
            opts.out.display()
        );
    }
    Ok(Report {
        overfit,
        stopped,
        mean_baseline_mae,
        seconds,
    })
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    common::exit_code(run(&Options::parse()))
}
