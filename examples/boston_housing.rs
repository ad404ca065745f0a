//! Boston house prices: regression with a multi-layer perceptron compiled
//! from `examples/specs/boston_housing.nn`, compared with Keras' result.
//!
//! ```text
//! cargo run --release --example boston_housing
//! cargo run --release --example boston_housing -- --data DIR   # train.csv and test.csv
//! ```
//!
//! The data is Keras' split (404 training, 102 test rows); the 13 features
//! are standardised with the mean and deviation of the 404 training rows
//! only, so nothing about the test set leaks into training.
//!
//! Keras' 2.70 is one run of the TensorFlow tutorial "Predict house prices:
//! regression" (2018): the same 13-64-64-1 network, but
//! `tf.train.RMSPropOptimizer(0.001)`, batch 32, up to 500 epochs with
//! `EarlyStopping(monitor="val_loss", patience=20)`, and
//! `fit(validation_split=0.2)` after shuffling the 404 training rows with
//! an unseeded `np.random` permutation. `validation_split` holds out the
//! last 81 rows and trains on the first 323, so each run of the tutorial
//! validates on different houses. The validation run here does the same:
//! the seed shuffles the training rows before the split (`--fixed-split`
//! holds out the last 81 rows as stored, for every seed, as this example
//! did before). Which 81 rows are held out matters more than the initial
//! weights: with `--split-seed 1` to `20` and `--seeds 5`, 17 of the 20
//! shuffles give a mean test MAE of 2.52 to 2.66 and three give 2.82 to
//! 2.95 (spread over the five seeds within a shuffle: 0.04 to 0.14); the
//! stored order's last 81 rows (`--fixed-split --seeds 5`) give 2.86, the
//! second worst of the 21. That fixed split, not the initialisers (Keras'
//! `glorot_uniform` kernels and zero biases), Adam (Keras' epsilon-hat form,
//! epsilon 1e-7) or the standardisation (mean and population deviation of
//! all 404 rows, as the tutorial and Chollet do), is why this example's
//! validation run used to trail Keras' figure.
//!
//! The validation run uses the spec's model (Adam 1e-3, 300 epochs: its
//! validation MAE still falls at 300). `--tutorial` runs the tutorial's own
//! recipe instead (TensorFlow 1's RMSprop, accumulators starting at 1,
//! epsilon 1e-10; early stopping with patience 20; at most 500 epochs): it
//! stops after about 130 epochs and is noisier. The final model is then
//! trained again from the same seed on all 404 rows, the last step of
//! Chollet's recipe. The test set is used for nothing but the final
//! numbers. Prints the test MAE (in $1000s) and R² of both fits next to two
//! baselines: predicting the training mean, and least-squares linear
//! regression.
//!
//! Measured on one thread with
//! `taskset -c 1 cargo run --release --example boston_housing -- --seeds 10`,
//! then `--seeds 30`, each with the options shown; test MAE in $1000s:
//!
//! | model | seed 42 | seeds 42..=51 | seeds 42..=71 |
//! | --- | --- | --- | --- |
//! | predict the training mean | 6.53 | | |
//! | linear least squares | 3.46 | | |
//! | Keras tutorial, one run | 2.70 | | |
//! | nnc, validation split 0.2 (shuffled rows) | 2.93 (R² 0.735) | **2.70 ± 0.11** | **2.65 ± 0.12** |
//! | the same, `--fixed-split` | 2.88 (R² 0.785) | 2.85 ± 0.10 | 2.83 ± 0.09 |
//! | the same, `--tutorial` | 3.03 (R² 0.686) | 3.02 ± 0.16 | 2.87 ± 0.23 |
//! | the same, `--tutorial --fixed-split` | | 3.19 ± 0.21 | 3.17 ± 0.17 |
//! | nnc, refitted on all 404 rows | **2.68** (R² 0.814) | **2.49 ± 0.10** | 2.46 ± 0.10 |
//!
//! Keras' single run is one draw from a spread like the `--tutorial` row's:
//! copies of the tutorial in public repositories print 2.64 to 2.89. Both
//! fits together take 0.1 to 0.2 s on one thread (`--seeds 10`: 1.6 s for
//! the whole process).

#[path = "common/options.rs"]
#[macro_use]
mod options;
use nnc::data::csv::{read_csv, Column, CsvOptions};
use nnc::data::transform::Standardizer;
use nnc::ndarray::{Array1, Array2, ArrayD, Ix2};
use nnc::Dataset;
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/boston_housing.nn");

/// Test MAE of the Keras tutorial model, in $1000s.
pub const KERAS_MAE: f32 = 2.70;

options! {
    /// Command-line options.
    pub struct Options {
        /// Folder with `train.csv` and `test.csv` (header, 13 features, `MEDV` last).
        pub data: PathBuf = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/boston-housing")),
        /// Override the spec's 300 epochs.
        pub epochs: Option<usize>,
        /// Seed for the initial weights and shuffling.
        pub seed: u64 = 42,
        /// Repeat with this many seeds (`seed`, `seed + 1`, ...) and print the mean and spread.
        pub seeds: usize = 1,
        /// Where to write the history (CSV) and learning curves (PNG).
        pub out: PathBuf = PathBuf::from("target/nnc-examples/boston_housing"),
        /// Print only errors.
        pub quiet: bool,
        /// Validate on the last 81 rows as stored, for every seed, instead of
        /// shuffling the training rows with the seed first as the Keras tutorial does.
        pub fixed_split: bool,
        /// Shuffle the training rows with this seed, the same for every run,
        /// instead of with each run's seed (to separate the split's effect from
        /// the initial weights').
        pub split_seed: Option<u64>,
        /// Train the validation run with the Keras tutorial's own recipe instead
        /// of the spec's: TensorFlow 1's `RMSPropOptimizer(0.001)`, early stopping
        /// on `val_loss` with patience 20, at most 500 epochs. The refit keeps the spec's.
        pub tutorial: bool,
    }
}

/// What a run measured (errors in $1000s).
#[derive(Debug)]
pub struct Report {
    /// Test MAE of the final network, refitted on all 404 training rows.
    pub test_mae: f32,
    /// Test R² of that network.
    pub test_r2: f32,
    /// Test MAE after the Keras protocol (323 rows, 81 held out for validation).
    pub protocol_mae: f32,
    /// Test MAE of always predicting the training mean.
    pub mean_baseline_mae: f32,
    /// Test MAE of least-squares linear regression on the same features.
    pub linear_mae: f32,
    /// Training loss (MSE) per epoch.
    pub losses: Vec<f32>,
    /// Wall time of both fits, in seconds.
    pub seconds: f64,
}

fn load(path: PathBuf) -> Result<Dataset, Box<dyn std::error::Error>> {
    let opts = CsvOptions {
        targets: vec![Column::Name("MEDV".into())],
        ..CsvOptions::default()
    };
    let d = read_csv(&path, &opts)?;
    if d.x.shape()[1] != 13 {
        return Err(format!(
            "{}: expected 13 feature columns besides MEDV, found {}",
            path.display(),
            d.x.shape()[1]
        )
        .into());
    }
    // `read_csv` selects the feature columns into a column-major array, which
    // `Standardizer::fit` refuses; a row-major copy avoids that.
    let x = d.x.as_standard_layout().into_owned();
    // `[n]` targets become `[n, 1]`, the network's output shape.
    let n = d.len();
    Ok(Dataset::new(x, d.y.into_shape_with_order(vec![n, 1])?)?)
}

/// One seed's measurements.
struct Run {
    /// Test (MAE, R²) after the Keras protocol: 300 epochs on 323 rows, 81 held out.
    protocol: (f32, f32),
    /// Test (MAE, R²) of the final model, refitted on all 404 training rows.
    final_fit: (f32, f32),
    history: nnc::History,
    seconds: f64,
}

/// The Keras tutorial's settings for `fit`: `tf.train.RMSPropOptimizer(0.001)`
/// (decay 0.9, epsilon 1e-10 inside the square root), `EarlyStopping(monitor =
/// "val_loss", patience = 20)` without restoring the best weights, 500 epochs.
fn tutorial_config(spec: &nnc::TrainConfig, epochs: Option<usize>) -> nnc::TrainConfig {
    nnc::TrainConfig {
        optimizer: nnc::Optimizer::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-10,
            eps_placement: nnc::optim::EpsPlacement::Keras,
        },
        epochs: epochs.unwrap_or(500),
        early_stopping: Some(nnc::train::EarlyStopping {
            monitor: "val_loss".into(),
            patience: 20,
            min_delta: 0.0,
            restore_best_weights: false,
        }),
        ..spec.clone()
    }
}

/// A fresh training state whose RMSprop accumulators start at 1, as
/// TensorFlow 1's `RMSPropOptimizer` initialises them (Keras' own RMSprop,
/// and nnc's, start at 0).
fn tf1_rmsprop_state(cfg: &nnc::TrainConfig, net: &mut Boston) -> nnc::train::TrainState {
    let mut state = nnc::train::TrainState::new(cfg);
    let mut sizes = Vec::new();
    nnc::Model::visit_params(net, &mut |p: nnc::Param<'_>| {
        sizes.push((p.index, p.value.len()))
    });
    for (index, len) in sizes {
        state.optimizer.set_state(index, "velocity", vec![1.0; len]);
    }
    state
}

fn train_once(
    seed: u64,
    opts: &Options,
    train: &Dataset,
    test: &Dataset,
) -> Result<Run, Box<dyn std::error::Error>> {
    let mut cfg = Boston::train_config();
    cfg.seed = seed;
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    cfg.verbose = nnc::train::Verbosity::Silent; // 300 short epochs: a bar per epoch would only scroll.
    let score = |net: &mut Boston| -> Result<(f32, f32), Box<dyn std::error::Error>> {
        let pred = nnc::predict(net, test.x.view(), 128)?;
        Ok((
            nnc::metrics::mae(pred.view(), test.y.view())?,
            nnc::metrics::r2(pred.view(), test.y.view())?,
        ))
    };
    let start = Instant::now();
    // Keras' `validation_split = 0.2` trains on the first floor(404 × 0.8) =
    // 323 rows and validates on the last 81. The tutorial shuffles the
    // training rows (`np.random`, unseeded) before calling `fit`, so which 81
    // are held out changes from run to run; here the seed shuffles them.
    // Which rows are held out moves the test MAE more than the initial
    // weights do (see the module comment).
    let mut rows = train.clone();
    if !opts.fixed_split {
        rows.shuffle(opts.split_seed.unwrap_or(seed));
    }
    let (fit_rows, val_rows) = rows.validation_split(cfg.validation_split)?;
    let mut net = Boston::new(seed);
    let history = if opts.tutorial {
        let tcfg = tutorial_config(&cfg, opts.epochs);
        let state = tf1_rmsprop_state(&tcfg, &mut net);
        nnc::train::resume(&mut net, &tcfg, &fit_rows, Some(&val_rows), state)?
    } else {
        nnc::fit_with_validation(&mut net, &cfg, &fit_rows, Some(&val_rows))?
    };
    let protocol = score(&mut net)?;
    // The validation curve only serves to choose the epoch count (its MAE is
    // still falling at 300); the final model then learns from every training
    // row, as in Chollet's book. The test set plays no part in either choice.
    let mut net = Boston::new(seed);
    let all_rows = nnc::TrainConfig {
        validation_split: 0.0,
        ..cfg
    };
    nnc::fit(&mut net, &all_rows, train)?;
    let final_fit = score(&mut net)?;
    Ok(Run {
        protocol,
        final_fit,
        history,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f32;
    let m = v.iter().sum::<f32>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / n).sqrt(),
    )
}

/// Trains and evaluates as `opts` says.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    if opts.fixed_split && opts.split_seed.is_some() {
        return Err("--fixed-split and --split-seed exclude each other".into());
    }
    nnc::data::verify_checksums(&opts.data)?;
    let mut train = load(opts.data.join("train.csv"))?;
    let mut test = load(opts.data.join("test.csv"))?;
    let scaler = Standardizer::fit(train.x.view())?;
    scaler.transform(&mut train.x)?;
    scaler.transform(&mut test.x)?;

    let first = train_once(opts.seed, opts, &train, &test)?;
    let (test_mae, test_r2) = first.final_fit;
    let history = &first.history;

    // Baselines fitted on all training rows, as the final model is.
    let mean = train.y.mean().unwrap_or(0.0);
    let mean_baseline_mae = nnc::metrics::mae(
        ArrayD::from_elem(test.y.raw_dim(), mean).view(),
        test.y.view(),
    )?;
    let linear_pred = affine(&test.x, &least_squares(&train)?)?;
    let linear_mae = nnc::metrics::mae(linear_pred.view(), test.y.view())?;

    // std's error alone does not say which folder.
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    history.write_csv(opts.out.join("boston_housing.csv"))?;
    nnc::plot::learning_curves(history, opts.out.join("boston_housing.png"))?;

    let recipe = if opts.tutorial {
        "the tutorial's RMSprop and early stopping"
    } else {
        "the spec's Adam, 300 epochs"
    };
    let split = match (opts.fixed_split, opts.split_seed) {
        (true, _) => "the last 81 rows as stored".to_string(),
        (false, Some(s)) => format!("81 rows chosen by split seed {s}"),
        (false, None) => "81 rows chosen by the seed".to_string(),
    };
    if !opts.quiet {
        println!("validation run: {recipe}; held out: {split}");
        println!("test MAE (in $1000s) on {} houses:", test.len());
        println!("  predict the training mean              {mean_baseline_mae:.2}");
        println!("  linear least squares                   {linear_mae:.2}");
        println!("  Keras tutorial, 323 rows + 81 held out {KERAS_MAE:.2}   (one run)");
        println!(
            "  nnc,   323 rows + 81 for validation    {:.2}   R² {:.3}",
            first.protocol.0, first.protocol.1
        );
        println!("  nnc,   refitted on all 404 rows        {test_mae:.2}   R² {test_r2:.3}");
        println!(
            "(seed {}, {} epochs, {:.1} s for both fits; last val MAE {:.2})",
            opts.seed,
            history.len(),
            first.seconds,
            history.last("val_mae").unwrap_or(f32::NAN)
        );
        println!(
            "wrote boston_housing.csv and .png to {}",
            opts.out.display()
        );
    }
    if opts.seeds > 1 {
        let mut protocol = vec![first.protocol.0];
        let mut refit = vec![test_mae];
        let mut epochs = vec![first.history.len() as f32];
        for k in 1..opts.seeds {
            let r = train_once(opts.seed + k as u64, opts, &train, &test)?;
            protocol.push(r.protocol.0);
            refit.push(r.final_fit.0);
            epochs.push(r.history.len() as f32);
        }
        let ((pm, ps), (rm, rs)) = (mean_std(&protocol), mean_std(&refit));
        println!(
            "over {} seeds ({}..={}): test MAE {pm:.2} ± {ps:.2} with validation split ({:.0} epochs on average), {rm:.2} ± {rs:.2} refitted",
            opts.seeds,
            opts.seed,
            opts.seed + opts.seeds as u64 - 1,
            mean_std(&epochs).0,
        );
    }
    let losses = history.get("loss").unwrap_or_default();
    Ok(Report {
        test_mae,
        test_r2,
        protocol_mae: first.protocol.0,
        mean_baseline_mae,
        linear_mae,
        losses,
        seconds: first.seconds,
    })
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
        let pivot = (c..k)
            .max_by(|&r, &s| a[[r, c]].abs().total_cmp(&a[[s, c]].abs()))
            .unwrap_or(c);
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
