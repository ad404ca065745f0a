//! Handwritten digits (MNIST) with a multi-layer perceptron compiled from
//! `examples/specs/mnist.nn`.
//!
//! ```text
//! cargo run --release --example mnist                   # the Keras tutorial model
//! cargo run --release --example mnist -- --model best   # the best MLP in about 30 s
//! cargo run --release --example mnist -- --load target/nnc-examples/mnist/mnist.safetensors
//! ```
//!
//! Trains on the bundled data (or `--data DIR` with the four IDX files),
//! prints the test accuracy and confusion matrix, and writes the weights
//! (safetensors), the history (CSV) and the learning curves (PNG) to `--out`.
//! With `--load FILE` it skips training and predicts with saved weights.

#[path = "common/options.rs"]
#[macro_use]
mod options;
use nnc::metrics::ConfusionMatrix;
use nnc::{Dataset, Model, TrainConfig};
use std::path::PathBuf;
use std::time::Instant;

nnc::include_network!("examples/specs/mnist.nn");

options! {
    /// Command-line options.
    pub struct Options {
        /// Folder with the four MNIST IDX files (gzip or not).
        pub data: PathBuf = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist")),
        /// `keras` (784-64-32-32-10, RMSprop) or `best` (784-512-256-10, dropout, Adam).
        pub model: String = String::from("keras"),
        /// Override the spec's epoch count.
        pub epochs: Option<usize>,
        /// Train on the first N training images only.
        pub limit: Option<usize>,
        /// Where to write weights, history and plot.
        pub out: PathBuf = PathBuf::from("target/nnc-examples/mnist"),
        /// Load these weights and predict, without training.
        pub load: Option<PathBuf>,
        /// Seed of initialisation, shuffling and dropout (default: the spec's, 42).
        pub seed: Option<u64>,
        /// No progress bar and no tables.
        pub quiet: bool,
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Accuracy on the 10,000 test images.
    pub test_accuracy: f32,
    /// Training loss per epoch (empty with `--load`).
    pub losses: Vec<f32>,
    /// Wall time of training, in seconds.
    pub seconds: f64,
}

/// Trains (or loads) and evaluates as `opts` says.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    nnc::data::verify_checksums(&opts.data)?;
    let (mut train, test) = nnc::data::idx::load_mnist(&opts.data)?;
    if let Some(n) = opts.limit {
        train = train.slice(0..n.min(train.len()));
    }
    let (mut net, mut cfg): (Box<dyn Model>, TrainConfig) = match opts.model.as_str() {
        "keras" => (
            Box::new(Mnist::new(opts.seed.unwrap_or(42))),
            Mnist::train_config(),
        ),
        "best" => (
            Box::new(MnistBest::new(opts.seed.unwrap_or(42))),
            MnistBest::train_config(),
        ),
        other => return Err(format!("unknown model `{other}`: use `keras` or `best`").into()),
    };
    if let Some(seed) = opts.seed {
        cfg.seed = seed;
    }
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    cfg.verbose = (!opts.quiet).into();
    let name = net.name().to_lowercase();
    // std's error alone does not say which folder.
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;

    let start = Instant::now();
    let mut losses = Vec::new();
    if let Some(weights) = &opts.load {
        nnc::io::load_weights(weights, net.as_mut())?;
    } else {
        let history = nnc::fit(net.as_mut(), &cfg, &train)?;
        losses = history.get("loss").unwrap_or_default();
        nnc::io::save_weights(opts.out.join(format!("{name}.safetensors")), net.as_mut())?;
        history.write_csv(opts.out.join(format!("{name}.csv")))?;
        nnc::plot::learning_curves(&history, opts.out.join(format!("{name}.png")))?;
    }
    let seconds = start.elapsed().as_secs_f64();

    let test_accuracy = evaluate(net.as_mut(), &test, opts.quiet)?;
    if !opts.quiet {
        if let Some(weights) = &opts.load {
            println!(
                "{}: test accuracy {:.2}% with the weights of {}",
                net.name(),
                100.0 * test_accuracy,
                weights.display()
            );
        } else {
            println!(
                "{}: test accuracy {:.2}% ({} training images, {:.0}% of them held out for validation, {} epochs, {:.1} s)",
                net.name(),
                100.0 * test_accuracy,
                train.len(),
                100.0 * cfg.validation_split,
                losses.len(),
                seconds
            );
            println!(
                "wrote {name}.safetensors, {name}.csv and {name}.png to {}",
                opts.out.display()
            );
        }
    }
    Ok(Report {
        test_accuracy,
        losses,
        seconds,
    })
}

fn evaluate(
    net: &mut dyn Model,
    test: &Dataset,
    quiet: bool,
) -> Result<f32, Box<dyn std::error::Error>> {
    let out = nnc::predict(net, test.x.view(), 1000)?;
    let cm = ConfusionMatrix::from_output(out.view(), test.y.view())?;
    if !quiet {
        println!("{cm}");
    }
    Ok(cm.accuracy())
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
