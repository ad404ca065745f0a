//! Skip connections, in the graph form of the model language: a deep MLP on
//! scikit-learn's 8×8 digits, plain and residual, with the same 13 hidden
//! layers of 32 units and the same 15,082 parameters
//! (`examples/specs/residual.nn`). Both are trained on the same split with
//! the same seeds, and their test accuracies are reported side by side.
//!
//! ```text
//! cargo run --release --example residual                 # seeds 1..=5
//! cargo run --release --example residual -- --seeds 10 --epochs 30
//! ```
//!
//! The measurement is in `docs/examples.md`.

#[path = "common/mod.rs"]
mod common;

#[path = "common/options.rs"]
#[macro_use]
mod options;
use nnc::metrics::ConfusionMatrix;
use nnc::Model;
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/residual.nn");

options! {
    /// Command-line options.
    pub struct Options {
        /// The digits CSV (gzip or not): no header, 64 pixel values 0-16, then the digit.
        pub data: PathBuf = common::default_digits(),
        /// Override both specs' epoch counts.
        pub epochs: Option<usize>,
        /// Number of seeds, 1..=N: each seeds the split, the weights and the shuffling.
        pub seeds: u64 = 5,
        /// Print only errors.
        pub quiet: bool,
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Test accuracy of the plain MLP, per seed.
    pub plain: Vec<f32>,
    /// Test accuracy of the residual MLP, per seed.
    pub residual: Vec<f32>,
    /// Training loss per epoch of the residual MLP with the first seed.
    pub losses: Vec<f32>,
    /// Wall time of all trainings, in seconds.
    pub seconds: f64,
}

fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// Trains both networks for every seed and evaluates them on the test split.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    let all = common::load_digits(&opts.data)?;
    let start = Instant::now();
    let (mut plain, mut residual, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 1..=opts.seeds {
        let (train, test) = all.train_test_split(0.2, seed)?;
        let mut scores = [0.0f32; 2];
        let models: [(&mut dyn Model, nnc::TrainConfig); 2] = [
            (&mut PlainDigits::new(seed), PlainDigits::train_config()),
            (
                &mut ResidualDigits::new(seed),
                ResidualDigits::train_config(),
            ),
        ];
        for (i, (net, mut cfg)) in models.into_iter().enumerate() {
            cfg.seed = seed;
            cfg.verbose = nnc::train::Verbosity::Silent;
            if let Some(e) = opts.epochs {
                cfg.epochs = e;
            }
            let history = nnc::fit(net, &cfg, &train)?;
            let out = nnc::predict(net, test.x.view(), 256)?;
            scores[i] = ConfusionMatrix::from_output(out.view(), test.y.view())?.accuracy();
            if i == 1 && seed == 1 {
                losses = history.get("loss").unwrap_or_default();
            }
        }
        if !opts.quiet {
            println!(
                "seed {seed}: plain {:.2}%, residual {:.2}%",
                100.0 * scores[0],
                100.0 * scores[1]
            );
        }
        plain.push(scores[0]);
        residual.push(scores[1]);
    }
    let seconds = start.elapsed().as_secs_f64();
    if !opts.quiet {
        let ((pm, ps), (rm, rs)) = (mean_std(&plain), mean_std(&residual));
        println!(
            "test accuracy over {} seeds: plain {:.2} ± {:.2}%, residual {:.2} ± {:.2}%; {:.1} s",
            opts.seeds,
            100.0 * pm,
            100.0 * ps,
            100.0 * rm,
            100.0 * rs,
            seconds
        );
    }
    Ok(Report {
        plain,
        residual,
        losses,
        seconds,
    })
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    common::exit_code(run(&Options::parse()))
}
