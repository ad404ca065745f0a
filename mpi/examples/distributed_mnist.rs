//! MNIST on several processes: data-parallel training over MPI.
//!
//! ```text
//! cargo build --release --manifest-path mpi/Cargo.toml --example distributed_mnist
//! mpirun -np 2 mpi/target/release/examples/distributed_mnist
//! mpirun -np 2 mpi/target/release/examples/distributed_mnist --layout sharded
//! ```
//!
//! Every rank builds the same network (784 → 128 → 64 → 10, Adam); rank
//! 0's initial weights are broadcast; each global batch of 256 images is
//! split across the ranks, their gradients are summed with a
//! reduce-scatter (each rank gets the sum for its share of the parameters,
//! updates that share, and an all-gather hands the result to all). With `--layout replicated` (the default) every rank reads the
//! whole training set and the run takes exactly the steps a single process
//! would; with `--layout sharded` each rank reads only its own rows of the
//! IDX files (`nnc::data::idx::read_images_and_labels_rows`). Rank 0 prints
//! the progress and the test accuracy and writes the weights.

use clap::Parser;
use nnc::data::idx::{idx_shape, read_images_and_labels_rows};
use nnc::{Dataset, Model};
use nnc_mpi::{split_rows, DataLayout, Mpi};
use std::path::{Path, PathBuf};
use std::time::Instant;

nnc::network! {
    /// A multi-layer perceptron for 28×28 digits.
    network Digits(image: [28, 28]) -> [10] {
        flatten
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }

    train Digits {
        loss      sparse_categorical_crossentropy
        optimizer adam(lr = 1e-3)
        batch     256
        epochs    5
        validation_split 0.1
        metrics   [accuracy]
        seed      42
    }
}

/// Command-line options.
#[derive(Parser, Debug)]
struct Options {
    /// Folder with the four MNIST IDX files (gzip or not).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist"))]
    data: PathBuf,
    /// `replicated` (every rank reads all rows) or `sharded` (each its own).
    #[arg(long, default_value = "replicated")]
    layout: String,
    /// Override the spec's epoch count.
    #[arg(long)]
    epochs: Option<usize>,
    /// Where rank 0 writes the weights.
    #[arg(long, default_value = "target/nnc-examples/distributed_mnist")]
    out: PathBuf,
}

/// `dir/stem.gz` if it exists, else `dir/stem`.
fn find(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() {
        gz
    } else {
        dir.join(stem)
    }
}

fn main() {
    let mut mpi = match Mpi::init() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&mut mpi) {
        eprintln!("rank {}: {e}", mpi.rank());
        // Another rank may be waiting for this one: end the whole job.
        mpi.abort(1);
    }
}

fn run(mpi: &mut Mpi) -> Result<(), Box<dyn std::error::Error>> {
    let opts = Options::parse();
    let layout = match opts.layout.as_str() {
        "replicated" => DataLayout::Replicated,
        "sharded" => DataLayout::Sharded,
        other => return Err(format!("unknown layout `{other}`: replicated or sharded").into()),
    };
    let images = find(&opts.data, "train-images-idx3-ubyte");
    let labels = find(&opts.data, "train-labels-idx1-ubyte");
    let n = idx_shape(&images)?[0];
    let rows = match layout {
        DataLayout::Replicated => 0..n,
        _ => split_rows(n, mpi.rank(), mpi.size()),
    };
    let train: Dataset = read_images_and_labels_rows(&images, &labels, 10, rows.clone())?;

    let mut cfg = Digits::train_config();
    if let Some(e) = opts.epochs {
        cfg.epochs = e;
    }
    let mut net = Digits::new(cfg.seed);
    if mpi.is_root() {
        println!(
            "{} ranks, {layout:?} data (rank 0 holds rows {}..{} of {n}), global batch {}",
            mpi.size(),
            rows.start,
            rows.end,
            cfg.batch_size
        );
    }
    let start = Instant::now();
    mpi.fit(&mut net, &cfg, &train, layout)?;
    let seconds = start.elapsed().as_secs_f64();

    if mpi.is_root() {
        let test = read_images_and_labels_rows(
            find(&opts.data, "t10k-images-idx3-ubyte"),
            find(&opts.data, "t10k-labels-idx1-ubyte"),
            10,
            0..10_000,
        )?;
        let score = nnc::evaluate(&mut net, cfg.loss, &cfg.metrics, &test, 1024)?;
        println!(
            "{}: test accuracy {:.2}% after {} epochs on {} ranks ({seconds:.1} s)",
            net.name(),
            100.0 * score.metrics[0].1,
            cfg.epochs,
            mpi.size()
        );
        std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
        let path = opts.out.join("digits.safetensors");
        nnc::io::save_weights(&path, &mut net)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
