//! Boston house prices: regression with a multi-layer perceptron compiled
//! from `examples/specs/boston_housing.nn`, compared with Keras' result.
//!
//! ```text
//! cargo run --release --example boston_housing
//! cargo run --release --example boston_housing -- --data DIR   # train.csv and test.csv
//! ```
//!
//! The data is Keras' split (404 training, 102 test rows); the 13 features
//! are standardised with the mean and deviation of the training rows only,
//! so nothing about the test set leaks into training. As in Keras'
//! `fit(validation_split=0.2)`, the last 20% of the training rows are held
//! out for validation and the network trains on the other 323.
//!
//! Prints the test MAE (in $1000s) and R², next to two baselines: predicting
//! the training mean, and least-squares linear regression.
//!
//! Measured on 2 cores: RESULT

use clap::Parser;
use nnc::data::csv::{read_csv, Column, CsvOptions};
use nnc::data::transform::Standardizer;
use nnc::ndarray::{Array1, Array2, ArrayD, Ix2};
use nnc::{Dataset, Model};
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/boston_housing.nn");

/// Test MAE of the Keras tutorial model, in $1000s.
pub const KERAS_MAE: f32 = 2.70;

/// Command-line options.
#[derive(Parser, Debug, Clone)]
pub struct Options {
    /// Folder with `train.csv` and `test.csv` (header, 13 features, `MEDV` last).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/boston-housing"))]
    pub data: PathBuf,
    /// Override the spec's 300 epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed for the initial weights and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the history (CSV) and learning curves (PNG).
    #[arg(long, default_value = "target/nnc-examples/boston_housing")]
    pub out: PathBuf,
    /// Print only errors.
    #[arg(long)]
    pub quiet: bool,
}

/// What a run measured (errors in $1000s).
#[derive(Debug)]
pub struct Report {
    /// Mean absolute error of the network on the test set.
    pub test_mae: f32,
    /// R² of the network on the test set.
    pub test_r2: f32,
    /// Test MAE of always predicting the training mean.
    pub mean_baseline_mae: f32,
    /// Test MAE of least-squares linear regression on the same features.
    pub linear_mae: f32,
    /// Training loss (MSE) per epoch.
    pub losses: Vec<f32>,
    /// Wall time of training, in seconds.
    pub seconds: f64,
}

fn load(path: PathBuf) -> Result<Dataset, Box<dyn std::error::Error>> {
    let opts = CsvOptions { targets: vec![Column::Name("MEDV".into())], ..CsvOptions::default() };
    let d = read_csv(&path, &opts)?;
    if d.x.shape()[1] != 13 {
        return Err(format!(
            "{}: expected 13 feature columns besides MEDV, found {}",
            path.display(),
            d.x.shape()[1]
        )
        .into());
    }
    // `[n]` targets become `[n, 1]`, the network's output shape.
    let n = d.len();
    Ok(Dataset::new(d.x, d.y.into_shape_with_order(vec![n, 1])?)?)
}

/// Trains and evaluates as `opts` says.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    nnc::data::verify_checksums(&opts.data)?;
    let mut train = load(opts.data.join("train.csv"))?;
    let mut test = load(opts.data.join("test.csv"))?;
    let scaler = Standardizer::fit(train.x.view())?;
    scaler.transform(&mut train.x)?;
    scaler.transform(&mut test.x)?;

    let mut net = Boston::new(opts.seed);
    let mut cfg = Boston::train_config();
    cfg.seed = opts.seed;
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    cfg.verbose = false; // 300 short epochs: a bar per epoch would only scroll.

    let start = Instant::now();
    let history = nnc::fit(&mut net, &cfg, &train)?;
    let seconds = start.elapsed().as_secs_f64();

    let pred = nnc::predict(&mut net, test.x.view(), 128)?;
    let test_mae = nnc::metrics::mae(pred.view(), test.y.view())?;
    let test_r2 = nnc::metrics::r2(pred.view(), test.y.view())?;

    // Baselines fitted on the same 323 rows the network trained on.
    let (fit_part, _) = train.validation_split(cfg.validation_split)?;
    let mean = fit_part.y.mean().unwrap_or(0.0);
    let mean_baseline_mae = nnc::metrics::mae(ArrayD::from_elem(test.y.raw_dim(), mean).view(), test.y.view())?;
    let linear = least_squares(&fit_part)?;
    let linear_pred = affine(&test.x, &linear)?;
    let linear_mae = nnc::metrics::mae(linear_pred.view(), test.y.view())?;

    std::fs::create_dir_all(&opts.out)?;
    history.write_csv(opts.out.join("boston_housing.csv"))?;
    nnc::plot::learning_curves(&history, opts.out.join("boston_housing.png"))?;

    if !opts.quiet {
        println!("test MAE (in $1000s) on {} houses:", test.len());
        println!("  predict the training mean   {mean_baseline_mae:.2}");
        println!("  linear least squares        {linear_mae:.2}");
        println!("  Keras, same model           {KERAS_MAE:.2}");
        println!("  nnc {:<24}{test_mae:.2}   R² {test_r2:.3}", net.name());
        println!(
            "({} epochs on {} rows, {} held out for validation, seed {}, {:.1} s; final val MAE {:.2})",
            history.len(),
            fit_part.len(),
            train.len() - fit_part.len(),
            opts.seed,
            seconds,
            history.last("val_mae").unwrap_or(f32::NAN)
        );
        println!("wrote boston_housing.csv and .png to {}", opts.out.display());
    }
    let losses = history.get("loss").unwrap_or_default();
    Ok(Report { test_mae, test_r2, mean_baseline_mae, linear_mae, losses, seconds })
}

/// Least-squares weights `[features + 1]` (bias last) from the normal
/// equations, solved by Gaussian elimination with partial pivoting in f64;
/// a small ridge term keeps the system well posed.
fn least_squares(d: &Dataset) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let x = d.x.view().into_dimensionality::<Ix2>()?;
    let (n, f) = x.dim();
    let k = f + 1;
    let row = |i: usize, j: usize| if j < f { x[[i, j]] as f64 } else { 1.0 };
    let mut a = Array2::<f64>::zeros((k, k + 1));
    for i in 0..n {
        let t = d.y.as_slice().ok_or("targets not contiguous")?[i] as f64;
        for p in 0..k {
            for q in 0..k {
                a[[p, q]] += row(i, p) * row(i, q);
            }
            a[[p, k]] += row(i, p) * t;
        }
    }
    for p in 0..f {
        a[[p, p]] += 1e-6 * n as f64;
    }
    for c in 0..k {
        let pivot = (c..k).max_by(|&r, &s| a[[r, c]].abs().total_cmp(&a[[s, c]].abs())).unwrap_or(c);
        if a[[pivot, c]].abs() < 1e-12 {
            return Err("linear regression: singular system".into());
        }
        for j in 0..=k {
            a.swap([c, j], [pivot, j]);
        }
        for r in 0..k {
            if r != c {
                let m = a[[r, c]] / a[[c, c]];
                for j in c..=k {
                    a[[r, j]] -= m * a[[c, j]];
                }
            }
        }
    }
    Ok((0..k).map(|c| a[[c, k]] / a[[c, c]]).collect())
}

/// `x · w[..f] + w[f]` as `[n, 1]`.
fn affine(x: &ArrayD<f32>, w: &[f64]) -> Result<ArrayD<f32>, Box<dyn std::error::Error>> {
    let x = x.view().into_dimensionality::<Ix2>()?;
    let f = x.ncols();
    let p: Array1<f32> = x
        .rows()
        .into_iter()
        .map(|r| (r.iter().zip(w).map(|(&v, &c)| v as f64 * c).sum::<f64>() + w[f]) as f32)
        .collect();
    Ok(p.into_shape_with_order(vec![x.nrows(), 1])?)
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    // Display, not Debug: a wrong `--data` path reads as a sentence.
    match run(&Options::parse()) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
