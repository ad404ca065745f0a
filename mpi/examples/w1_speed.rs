//! Data-parallel speed on W1 (784 → 128 relu → 64 relu → 10 softmax, Adam
//! lr 1e-3): time per global step of one process against N ranks, and the
//! share of a step the collectives take (the gradient's reduce-scatter, the
//! parameters' all-gather and the step's small sums, including the wait
//! for the slower rank).
//!
//! ```text
//! cargo build --release --manifest-path mpi/Cargo.toml --example w1_speed
//! NNC_NUM_THREADS=1 mpi/target/release/examples/w1_speed --batch 256                # 1 process, no MPI
//! NNC_NUM_THREADS=1 mpirun -np 2 mpi/target/release/examples/w1_speed --batch 256 --mpi
//! ```
//!
//! Each run trains `--epochs` epochs on the first `--rows` MNIST training
//! images (the same data on every rank) and prints one line:
//! `ranks R batch B steps S step_ms T comm_ms C`.

use clap::Parser;
use nnc::train::{TrainConfig, Verbosity};
use nnc::{Dataset, Loss, Optimizer, Result};
use nnc_mpi::{DataLayout, GradientSync, Mpi};
use std::path::PathBuf;
use std::time::{Duration, Instant};

nnc::network! {
    /// W1 of the benchmarks.
    network W1(x: [784]) -> [10] {
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }
}

/// Command-line options.
#[derive(Parser, Debug)]
struct Options {
    /// Global batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Training rows (from the MNIST training set).
    #[arg(long, default_value_t = 16384)]
    rows: usize,
    /// Epochs to time.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Train over MPI (start with mpirun); without it, one plain process.
    #[arg(long)]
    mpi: bool,
    /// Time only the collectives of W1's 109,386 parameters, this many
    /// times each: an allreduce, and the reduce-scatter plus all-gather a
    /// step makes; then exit. (`--allreduce-only`, its name when a step
    /// was one allreduce, still works.)
    #[arg(long, alias = "allreduce-only")]
    comm_only: Option<usize>,
    /// Folder with the MNIST IDX files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist"))]
    data: PathBuf,
}

/// Times the collectives of the wrapped transport.
struct Timed<'a> {
    inner: &'a mut Mpi,
    comm: Duration,
}

impl Timed<'_> {
    fn time<T>(&mut self, f: impl FnOnce(&mut Mpi) -> T) -> T {
        let t = Instant::now();
        let r = f(self.inner);
        self.comm += t.elapsed();
        r
    }
}

impl GradientSync for Timed<'_> {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn sum_f32(&mut self, buf: &mut [f32]) -> Result<()> {
        self.time(|m| m.sum_f32(buf))
    }
    fn sum_f64(&mut self, buf: &mut [f64]) -> Result<()> {
        self.time(|m| m.sum_f64(buf))
    }
    fn broadcast_f32(&mut self, buf: &mut [f32]) -> Result<()> {
        self.inner.broadcast_f32(buf)
    }
    // Forwarded, not left to the defaults (which would sum whole buffers).
    fn reduce_scatter_f32(&mut self, send: &mut [f32], recv: &mut [f32]) -> Result<()> {
        self.time(|m| m.reduce_scatter_f32(send, recv))
    }
    fn all_gather_f32(&mut self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        self.time(|m| m.all_gather_f32(send, recv))
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let opts = Options::parse();
    if let Some(times) = opts.comm_only {
        let mut mpi = Mpi::init()?;
        let size = mpi.size();
        let mut buf = vec![1.0f32; 109_386];
        // As a step pads them: `size` equal blocks.
        let block = buf.len().div_ceil(size);
        let (mut flat, mut part) = (vec![1.0f32; block * size], vec![0.0f32; block]);
        mpi.sum_f32(&mut buf)?;
        let mut ms = |f: &mut dyn FnMut(&mut Mpi) -> Result<()>| -> Result<f64> {
            let t = Instant::now();
            for _ in 0..times {
                f(&mut mpi)?;
            }
            Ok(1e3 * t.elapsed().as_secs_f64() / times as f64)
        };
        let allreduce = ms(&mut |m| m.sum_f32(&mut buf))?;
        let scatter = ms(&mut |m| m.reduce_scatter_f32(&mut flat, &mut part))?;
        let gather = ms(&mut |m| m.all_gather_f32(&part, &mut flat))?;
        let both = ms(&mut |m| {
            m.reduce_scatter_f32(&mut flat, &mut part)?;
            m.all_gather_f32(&part, &mut flat)
        })?;
        if mpi.is_root() {
            println!(
                "ranks {size} of {} floats: allreduce {allreduce:.3} ms, reduce-scatter {scatter:.3} ms, all-gather {gather:.3} ms, both in turn {both:.3} ms",
                buf.len(),
            );
        }
        return Ok(());
    }
    let dir = &opts.data;
    let d = nnc::data::idx::read_images_and_labels_rows(
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
        10,
        0..opts.rows,
    )?;
    let n = d.len();
    let data = Dataset::new(d.x.into_shape_with_order(vec![n, 784])?, d.y)?;
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(1e-3),
        batch_size: opts.batch,
        epochs: opts.epochs,
        verbose: Verbosity::Silent,
        ..TrainConfig::default()
    };
    let steps = opts.epochs * n.div_ceil(opts.batch);
    let mut net = W1::new(0);
    // One untimed epoch first: buffers, page faults, the pool's threads.
    let warm = TrainConfig {
        epochs: 1,
        ..cfg.clone()
    };
    if opts.mpi {
        let mut mpi = Mpi::init()?;
        mpi.fit(&mut net, &warm, &data, DataLayout::Replicated)?;
        let mut timed = Timed {
            inner: &mut mpi,
            comm: Duration::ZERO,
        };
        let t = Instant::now();
        nnc::dist::fit_distributed(&mut net, &cfg, &data, DataLayout::Replicated, &mut timed)?;
        let secs = t.elapsed().as_secs_f64();
        let (size, ar) = (timed.size(), timed.comm.as_secs_f64());
        // Rank 0's communication time includes waiting for the other ranks:
        // report the smallest over the ranks, the transfer itself.
        let mut all = vec![0.0f64; size];
        all[mpi.rank()] = ar;
        mpi.sum_f64(&mut all)?;
        if mpi.is_root() {
            let min = all.iter().cloned().fold(f64::INFINITY, f64::min);
            println!(
                "ranks {size} batch {} steps {steps} step_ms {:.3} comm_ms {:.3} comm_max_ms {:.3}",
                opts.batch,
                1e3 * secs / steps as f64,
                1e3 * min / steps as f64,
                1e3 * all.iter().cloned().fold(0.0, f64::max) / steps as f64
            );
        }
    } else {
        nnc::fit(&mut net, &warm, &data)?;
        let t = Instant::now();
        nnc::fit(&mut net, &cfg, &data)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "ranks 1 batch {} steps {steps} step_ms {:.3} comm_ms 0",
            opts.batch,
            1e3 * secs / steps as f64
        );
    }
    Ok(())
}
