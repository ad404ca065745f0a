//! Convolutional networks on MNIST and Fashion-MNIST, compiled from
//! `examples/specs/mnist_cnn.nn`.
//!
//! ```text
//! cargo run --release --example mnist_cnn                    # the course's CNN, pixels in [0, 1]
//! cargo run --release --example mnist_cnn -- --unscaled      # ... on the tutorial's 0-255 pixels
//! cargo run --release --example mnist_cnn -- --model strong  # two 3x3 conv blocks, dropout
//! cargo run --release --example mnist_cnn -- --model strong --fashion
//! ```
//!
//! Trains on the bundled data (or `--data DIR` with the four IDX files),
//! prints the test accuracy and the training time, and writes the weights
//! (safetensors, kernels in Keras' `[KH, KW, C_in, C_out]` layout) and the
//! history (CSV) to `--out`. Measured (`docs/examples.md` has the details):
//! the course's CNN 98.25 / 97.45 / 98.02% for seeds 0 / 1 / 2 (mean
//! 97.91%; seeds 0-9: 97.98%), 97.26 / 96.85 / 97.51% with `--unscaled`; `--model strong`
//! 99.32 / 99.33 / 99.41% (mean 99.35%), with `--fashion` 92.59 / 92.20 /
//! 92.52% (mean 92.44%).

#[path = "common/options.rs"]
#[macro_use]
mod options;
use nnc::{Dataset, Model, TrainConfig};
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/mnist_cnn.nn");

options! {
    /// Command-line options.
    pub struct Options {
        /// Folder with the four IDX files (gzip or not); default: the bundled
        /// MNIST, or Fashion-MNIST with `--fashion`.
        pub data: Option<PathBuf>,
        /// Fashion-MNIST instead of MNIST.
        pub fashion: bool,
        /// `tutorial` (the course's CNN) or `strong`.
        pub model: String = String::from("tutorial"),
        /// Pixels as 0-255, as the tutorial feeds them, instead of [0, 1].
        pub unscaled: bool,
        /// Seed of initialisation, shuffling and dropout (default: the spec's, 0).
        pub seed: Option<u64>,
        /// Override the spec's epoch count.
        pub epochs: Option<usize>,
        /// Train on the first N training images only.
        pub limit: Option<usize>,
        /// Evaluate on the first N test images only.
        pub test_limit: Option<usize>,
        /// Where to write weights and history.
        pub out: PathBuf = PathBuf::from("target/nnc-examples/mnist_cnn"),
        /// No progress lines (the result line is still printed).
        pub quiet: bool,
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Accuracy on the test images.
    pub test_accuracy: f32,
    /// Training loss per epoch.
    pub losses: Vec<f32>,
    /// Wall time of training, in seconds.
    pub seconds: f64,
}

/// Trains and evaluates as `opts` says.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    let folder = if opts.fashion {
        "fashion-mnist"
    } else {
        "mnist"
    };
    let dir = opts.data.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")).join(folder)
    });
    nnc::data::verify_checksums(&dir)?;
    // The loader scales pixels to [0, 1].
    let (mut train, mut test) = nnc::data::idx::load_mnist(&dir)?;
    if let Some(n) = opts.limit {
        train = train.slice(0..n.min(train.len()));
    }
    if let Some(n) = opts.test_limit {
        test = test.slice(0..n.min(test.len()));
    }
    if opts.unscaled {
        train.x.mapv_inplace(|v| (v * 255.0).round());
        test.x.mapv_inplace(|v| (v * 255.0).round());
    }
    let seed = opts.seed.unwrap_or(0);
    let (mut net, mut cfg): (Box<dyn Model>, TrainConfig) = match opts.model.as_str() {
        "tutorial" => (Box::new(MnistCnn::new(seed)), MnistCnn::train_config()),
        "strong" => (Box::new(StrongCnn::new(seed)), StrongCnn::train_config()),
        other => return Err(format!("unknown model `{other}`: use `tutorial` or `strong`").into()),
    };
    cfg.seed = seed;
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    cfg.verbose = (!opts.quiet).into();
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;

    let start = Instant::now();
    let history = nnc::fit(net.as_mut(), &cfg, &train)?;
    let seconds = start.elapsed().as_secs_f64();
    let losses = history.get("loss").unwrap_or_default();
    let stem = format!(
        "{}_{}{}",
        folder.replace('-', "_"),
        opts.model,
        if opts.unscaled { "_unscaled" } else { "" }
    );
    nnc::io::save_weights(opts.out.join(format!("{stem}.safetensors")), net.as_mut())?;
    history.write_csv(opts.out.join(format!("{stem}.csv")))?;

    let test_accuracy = evaluate(net.as_mut(), &test)?;
    // Printed even with `--quiet`, which silences only the progress lines.
    {
        println!(
            "{} on {folder}{}: test accuracy {:.2}% (seed {seed}, {} epochs, {:.1} s of training)",
            net.name(),
            if opts.unscaled { " (0-255 pixels)" } else { "" },
            100.0 * test_accuracy,
            losses.len(),
            seconds
        );
    }
    Ok(Report {
        test_accuracy,
        losses,
        seconds,
    })
}

fn evaluate(net: &mut dyn Model, test: &Dataset) -> Result<f32, Box<dyn std::error::Error>> {
    let out = nnc::predict(net, test.x.view(), 500)?;
    let cm = nnc::metrics::ConfusionMatrix::from_output(out.view(), test.y.view())?;
    Ok(cm.accuracy())
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    match run(&Options::parse()) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
